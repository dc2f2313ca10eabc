"""`make run`, the README's first command, as a newcomer runs it (#16 item 6).

It is started on a free port with a database and Redis database of its own; the test reads what it prints
(Tenant URL, Secret Token, the hub's sign-in address and the demo administrator's one-time password),
provisions a user with that token, finds the user's activity entry (written by the worker `make run`
started), then sends one SIGINT to the process group, as Ctrl-C in a terminal does, and checks that no
process of the run is left. A second start on the same database prints the sign-in address again but no
new password. Every process of a run carries a marker variable in its environment, so a process that
escaped into a session of its own (honcho starts each in one) is still found.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from ops.processes import free_port

from scimhub.tenancy.db import database_name, with_database
from tests.support.cli import SCIMHUB
from tests.support.database import drop_database
from tests.support.settings import REDIS_URL, TEST_DB_URL
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
MARK = "SCIMHUB_MAKE_RUN_MARK"
MAKE = shutil.which("make") or "/usr/bin/make"


class MakeRun:
    """`make run` in a process group of its own, its output collected line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [MAKE, "--no-print-directory", "run"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=default_sigint,  # only a signal disposition, before exec
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def value(self, label: str) -> str | None:
        """The text after `label` on the first line holding it (honcho prefixes nothing before `exec`)."""
        for line in list(self.lines):
            if label in line:
                return line.split(label, 1)[1].strip().split()[0]
        return None

    def output(self) -> str:
        return "\n".join(self.lines)

    def interrupt(self) -> int:
        """One SIGINT to the whole foreground group, like Ctrl-C; the exit code of make."""
        os.killpg(self.proc.pid, signal.SIGINT)
        code = self.proc.wait(timeout=60)
        self.reader.join(timeout=10)
        return code


def default_sigint() -> None:
    """In the child: SIGINT as a terminal's Ctrl-C finds it (a background job inherits it ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def marked_processes(mark: str) -> list[str]:
    """`pid command` of every live process whose environment carries this run's marker."""
    found = []
    needle = f"{MARK}={mark}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile, or not ours
            continue
        if state != "Z":
            found.append(f"{entry.name} {cmd}")
    return found


@pytest.fixture
async def run_env(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    database = with_database(TEST_DB_URL, database_name(TEST_DB_URL) + "_makerun")
    await drop_database(database)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMHUB_") and k not in ("PORT", "MAKEFLAGS")}
    env.update(
        {
            "SCIMHUB_DATABASE_URL": database,
            "SCIMHUB_REDIS_URL": REDIS_URL,
            "PORT": str(free_port()),
            "SCIMHUB_DEV_SMTP_PORT": str(free_port()),
            "SCIMHUB_DEV_RUN_DIR": str(tmp_path / "run"),
            MARK: uuid.uuid4().hex,
        }
    )
    yield env
    await drop_database(database)


def activity(env: dict[str, str]) -> list[dict[str, object]]:
    out = subprocess.run(
        [SCIMHUB, "activity", "demo", "--json"], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    entries: list[dict[str, object]] = json.loads(out.stdout)
    return entries


async def healthy(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as c:
            return (await c.get(f"{url}/health")).status_code == 200
    except httpx.HTTPError:
        return False


async def started(run: MakeRun, url: str) -> None:
    """Wait until the web process answers (or make has exited, which fails with its output)."""

    async def probe() -> bool:
        assert run.proc.poll() is None, f"make run exited early:\n{run.output()}"
        return await healthy(url)

    await wait_until(probe, bool, f"make run to answer on {url}", patience=240)


async def stopped_cleanly(run: MakeRun) -> None:
    running = marked_processes(run.env[MARK])
    assert any("granian" in p for p in running), running
    assert any("celery" in p and " worker" in p for p in running), running
    assert any("celery" in p and " beat" in p for p in running), running
    assert any("dev_smtp" in p for p in running), running
    run.interrupt()
    assert marked_processes(run.env[MARK]) == [], run.output()[-3000:]


async def test_make_run_serves_provisions_logs_and_stops_on_one_ctrl_c(run_env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{run_env['PORT']}"
    run = MakeRun(run_env)
    try:
        await started(run, url)
        out = run.output()
        scim_url = run.value("Tenant URL:")
        token = run.value("Secret Token:")
        password = run.value("one-time password:")
        assert scim_url == f"{url}/scim/v2/demo", out
        assert token is not None and token.startswith("shs_"), out
        assert password, out
        assert f"sign in at: {url}/hub/demo/login" in out
        assert f"open Connectors > SCIM ({url}/hub/demo/connectors/scim)" in out

        # The demo administrator's one-time password opens the hub's sign-in.
        async with httpx.AsyncClient(base_url=url, timeout=30) as hub:
            page = await hub.get("/hub/demo/login")
            assert page.status_code == 200

        user = f"newcomer-{uuid.uuid4().hex[:6]}@demo.example"
        async with httpx.AsyncClient(timeout=30) as c:
            r = await c.post(
                f"{scim_url}/Users",
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
                json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user, "active": True},
            )
        assert r.status_code == 201, r.text
        user_id = r.json()["id"]

        async def entries() -> list[dict[str, object]]:
            return activity(run_env)

        found = await wait_until(
            entries,
            lambda es: any(e["operation"] == "Create user" and e["resource_id"] == user_id for e in es),
            "the user's activity entry (drained by the worker make run started)",
        )
        assert token not in json.dumps(found)
        await stopped_cleanly(run)
    finally:
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)
            run.proc.wait(timeout=30)

    # The second time: the same tenant and administrator, the sign-in address again, no new secret.
    again = MakeRun(run_env)
    try:
        await started(again, url)
        out = again.output()
        assert "tenant demo exists" in out
        assert f"sign in at: {url}/hub/demo/login" in out
        assert "one-time password" not in out and "Secret Token" not in out
        await stopped_cleanly(again)
    finally:
        if again.proc.poll() is None:
            os.killpg(again.proc.pid, signal.SIGKILL)
            again.proc.wait(timeout=30)
