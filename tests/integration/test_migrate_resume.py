"""`scimhub migrate` stopped by Ctrl-C mid-way, then run again (#16 item 3): every tenant ends migrated exactly
once, and the rerun does only what the first run left.

Deterministic without timing: the test holds an ACCESS EXCLUSIVE lock on the record table of the fourth tenant
(by id, the order migrate walks them), so the run commits tenants one to three, prints their progress lines and
then waits on that lock; the test sends a real SIGINT once the third line is out and the run's backend is seen
waiting on the lock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from scimhub.tenancy.db import admin_connect, database_name, with_database
from tests.support.cli import SCIMHUB
from tests.support.database import drop_database, fresh_database
from tests.support.settings import PUBLIC_URL, TEST_DB_URL
from tests.support.tenants import TenantHandle, create_tenant
from tests.support.waiting import wait_until

TENANTS = 6
STOP_AFTER = 3
PROBE = "m9990_resume_probe"


@pytest.fixture
async def scratch() -> AsyncIterator[str]:
    url = with_database(TEST_DB_URL, database_name(TEST_DB_URL) + "_resume")
    await fresh_database(url)
    yield url
    await drop_database(url)


def cli_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMHUB_")}
    return {**env, "SCIMHUB_DATABASE_URL": url, "SCIMHUB_PUBLIC_URL": PUBLIC_URL}


def default_sigint() -> None:
    """In the child: SIGINT as a terminal's Ctrl-C finds it. A shell's background job inherits it ignored
    (POSIX), and Python then keeps ignoring it, so `make test &` would not reach the handler under test."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,  # only a signal disposition, before exec
    )


def finish(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


async def probe_state(conn: asyncpg.Connection, t: TenantHandle) -> tuple[int, int]:
    """(probe tables, probe records) in the tenant's schema."""
    tables = await conn.fetchval(
        "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'resume_probe'", t.tenant.schema
    )
    records = await conn.fetchval(f"SELECT count(*) FROM {t.tenant.schema}.scimhub_migration WHERE name = $1", PROBE)
    return int(tables), int(records)


async def test_interrupted_migrate_resumes_and_migrates_each_tenant_once(scratch: str, tmp_path: Path) -> None:
    handles = [await create_tenant(scratch, f"resume-{i}") for i in range(TENANTS)]
    handles.sort(key=lambda h: h.tenant.id)
    probe = tmp_path / f"{PROBE}.sql"
    probe.write_text("CREATE TABLE resume_probe (id int PRIMARY KEY);\n")
    command = [SCIMHUB, "migrate", "--with-tenant-migration", str(probe)]

    blocker = await admin_connect(scratch)
    watcher = await admin_connect(scratch)
    try:
        blocking = blocker.transaction()
        await blocking.start()
        await blocker.execute(
            f"LOCK TABLE {handles[STOP_AFTER].tenant.schema}.scimhub_migration IN ACCESS EXCLUSIVE MODE"
        )
        run = start(command, cli_env(scratch))
        lines: list[str] = []

        def read() -> None:
            assert run.stdout is not None
            lines.extend(line.rstrip("\n") for line in run.stdout)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()

        async def progress() -> tuple[list[str], int]:
            assert run.poll() is None, lines
            waiting = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return list(lines), int(waiting)

        await wait_until(
            progress,
            lambda seen: any(line.startswith(f"[{STOP_AFTER}/{TENANTS}]") for line in seen[0]) and seen[1] == 1,
            f"migrate to finish {STOP_AFTER} tenants and wait on the fourth",
        )
        run.send_signal(signal.SIGINT)
        code = run.wait(timeout=60)
        reader.join(timeout=10)
        assert run.stderr is not None
        err = run.stderr.read()
        await blocking.rollback()
    finally:
        await blocker.close()
    try:
        assert code == 130, (lines, err)
        assert "interrupted; rerun `scimhub migrate` to continue" in err
        assert "Traceback" not in err
        done = [line for line in lines if line.startswith("[")]
        assert done == [
            f"[{i + 1}/{TENANTS}] {h.slug} ({h.tenant.schema}): applied 1" for i, h in enumerate(handles[:STOP_AFTER])
        ]
        for i, h in enumerate(handles):
            assert await probe_state(watcher, h) == ((1, 1) if i < STOP_AFTER else (0, 0)), h.slug

        again = finish(command, cli_env(scratch))
        assert again.returncode == 0, again.stderr
        applied = [line for line in again.stdout.splitlines() if line.endswith("applied 1")]
        assert applied == [
            f"[{i + 1}/{TENANTS}] {h.slug} ({h.tenant.schema}): applied 1"
            for i, h in enumerate(handles)
            if i >= STOP_AFTER
        ]
        assert f"{TENANTS} tenant schemas +{TENANTS - STOP_AFTER} in" in again.stdout
        for h in handles:
            assert await probe_state(watcher, h) == (1, 1), h.slug

        third = finish(command, cli_env(scratch))
        assert third.returncode == 0 and f"{TENANTS} tenant schemas +0 in" in third.stdout
    finally:
        await watcher.close()
