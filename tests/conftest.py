"""Shared fixtures: a fresh real PostgreSQL database per test session, tenants, and an in-process app.

The helpers these are built from live in `tests.support` (one module per concept); import them from there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from scimhub.app import create_app
from scimhub.http.services import Services
from scimhub.settings import Settings
from scimhub.tenancy.db import admin_connect
from tests.support.database import drop_database, empty_redis, fresh_database
from tests.support.processes import LiveServer, start_web, stop_process
from tests.support.scim import Scim
from tests.support.settings import PUBLIC_URL, make_settings
from tests.support.smtp import SmtpServer
from tests.support.tenants import TenantHandle, create_tenant


@pytest.fixture(scope="session")
def settings() -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[str]:
    await fresh_database(settings.database_url, settings.app_database_url)
    empty_redis(settings.redis_url)
    yield settings.database_url
    await drop_database(settings.database_url, settings.app_database_url)


@pytest.fixture
async def admin(database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await admin_connect(database)
    yield conn
    await conn.close()


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
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # Litestar's ASGI types are narrower
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as c:
        yield c


@pytest.fixture
async def scim(client: httpx.AsyncClient, tenant: TenantHandle) -> Scim:
    """A SCIM client for a fresh tenant, over the in-process app."""
    return Scim(client, tenant)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free loopback port that keeps what it receives."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_web(database, tmp_path_factory.mktemp("web") / "web.log")
    yield server
    stop_process(server.process)
