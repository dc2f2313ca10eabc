"""Shared fixtures: a fresh real PostgreSQL database per test session, tenants, and an in-process app.

The database is `scimhub_test` (override with SCIMHUB_TEST_DATABASE_URL); it is dropped and recreated at
the start of the session together with the roles of its previous installation, so a crashed run leaves
nothing that breaks the next one.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from scimhub.app import create_app
from scimhub.http.services import Services
from scimhub.settings import Settings, load_settings
from scimhub.tenancy import tenants
from scimhub.tenancy.db import admin_connect, database_name, with_database
from scimhub.tenancy.migrate import migrate
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.names import schema_name, tenant_role_name

TEST_DB_URL = os.environ.get("SCIMHUB_TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/scimhub_test")
PUBLIC_URL = "http://scim.test"
REDIS_URL = os.environ.get("SCIMHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def drop_database(url: str) -> None:
    name = database_name(url)
    try:
        conn = await admin_connect(url)
    except asyncpg.InvalidCatalogNameError:
        conn = None
    if conn is not None:
        try:
            install = await conn.fetchval("SELECT install_id FROM public.scimhub_installation")
        except asyncpg.UndefinedTableError:
            install = None
        finally:
            await conn.close()
    else:
        install = None
    admin = await admin_connect(with_database(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if install:
            roles = await admin.fetch("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", f"sh{install}\\_%")
            for r in roles:
                await admin.execute(f'DROP ROLE IF EXISTS "{r["rolname"]}"')
    finally:
        await admin.close()


def make_settings(**overrides: Any) -> Settings:
    base = load_settings(
        {
            "SCIMHUB_DATABASE_URL": TEST_DB_URL,
            "SCIMHUB_PUBLIC_URL": PUBLIC_URL,
            "SCIMHUB_REDIS_URL": REDIS_URL,
            "SCIMHUB_TOKEN_CACHE_SECONDS": "0.2",
        }
    )
    return msgspec.structs.replace(base, **overrides)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[str]:
    await drop_database(settings.database_url)
    await migrate(settings.database_url, progress=lambda _line: None)
    yield settings.database_url
    await drop_database(settings.database_url)


@pytest.fixture
async def admin(database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await admin_connect(database)
    yield conn
    await conn.close()


@dataclass
class TenantHandle:
    slug: str
    token: str
    tenant: Tenant
    scim_url: str

    @property
    def base(self) -> str:
        """The SCIM base path as the in-process client sees it."""
        return f"/scim/v2/{self.slug}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def create_tenant(database: str, slug: str | None = None, **kwargs: Any) -> TenantHandle:
    slug = slug or f"t-{secrets.token_hex(4)}"
    conn = await admin_connect(database)
    try:
        issued = await tenants.create_tenant(conn, slug, public_url=PUBLIC_URL, **kwargs)
        tid = await conn.fetchval("SELECT id FROM public.tenant WHERE slug = $1", slug)
        install = await conn.fetchval("SELECT install_id FROM public.scimhub_installation")
    finally:
        await conn.close()
    tenant = Tenant(id=tid, slug=slug, schema=schema_name(tid), role=tenant_role_name(install, tid))
    return TenantHandle(slug, issued.token, tenant, issued.scim_url)


@pytest.fixture
async def tenant(database: str) -> TenantHandle:
    return await create_tenant(database)


@pytest.fixture(scope="session")
async def services(settings: Settings, database: str) -> AsyncIterator[Services]:
    svc = await Services.start(settings)
    yield svc
    await svc.stop()


@pytest.fixture(scope="session")
async def client(settings: Settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def start_web(database: str, log: Path, extra_env: dict[str, str] | None = None) -> LiveServer:
    """A real scimhub web process (granian, one worker) on a free loopback port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SCIMHUB_DATABASE_URL": database,
        "SCIMHUB_PUBLIC_URL": url,
        "SCIMHUB_REDIS_URL": REDIS_URL,
        **(extra_env or {}),
    }
    granian = str(Path(sys.executable).parent / "granian")
    proc = subprocess.Popen(
        [
            granian,
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--log-level",
            "warning",
            "scimhub.asgi:app",
        ],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return LiveServer(url, proc, log)
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    stop_process(proc)
    raise RuntimeError(f"scimhub web did not start: {log.read_text()[-2000:]}")


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def live_server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_web(database, tmp_path_factory.mktemp("web") / "web.log")
    yield server
    stop_process(server.process)
