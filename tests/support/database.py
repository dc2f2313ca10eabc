"""The test databases: PostgreSQL's dropped and recreated at the start of a session together with the roles of
its previous installation, so a crashed run leaves nothing that breaks the next one; the test Redis database
emptied."""

from __future__ import annotations

import asyncpg
import redis

from scimhub.settings import load_settings
from scimhub.tenancy.db import admin_connect, database_name, with_database
from scimhub.tenancy.migrate import migrate
from scimhub.tenancy.roles import login_role


async def drop_database(url: str, app_url: str | None = None) -> None:
    """Drop the database named in `url`, every role of the installation it held, and its app login (`app_url`'s,
    by default the derived one): roles are cluster-wide."""
    name = database_name(url)
    install = None
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
    admin = await admin_connect(with_database(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if install:
            roles = await admin.fetch("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", f"sh{install}\\_%")
            for r in roles:
                await admin.execute(f'DROP ROLE IF EXISTS "{r["rolname"]}"')
        login = login_role(app_url or load_settings({"SCIMHUB_DATABASE_URL": url}).app_database_url)
        await admin.execute('DROP ROLE IF EXISTS "' + login.replace('"', '""') + '"')
    finally:
        await admin.close()


async def fresh_database(url: str, app_url: str | None = None) -> None:
    """An empty, migrated database at `url`, with its app login (`app_url`'s, by default the derived one)."""
    await drop_database(url, app_url)
    app_url = app_url or load_settings({"SCIMHUB_DATABASE_URL": url}).app_database_url
    await migrate(url, app_database_url=app_url, progress=lambda _line: None)


def empty_redis(url: str) -> None:
    """Empty the test Redis database (only this session's runs use it), so no queue outlives a session."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()
