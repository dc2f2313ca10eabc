"""The migration runner: the public schema first, the app role and login (`tenancy.roles`), then every tenant
schema, each recorded where it applies.

Safe to rerun and resumable: a schema records the migrations it has (`scimhub_migration` inside it), and a
run applies only the missing ones; a tenant's pending migrations and their records commit in one transaction
of their own, so a run stopped anywhere (Ctrl-C, a crash) leaves every tenant either fully migrated or
untouched, and the next run goes on with the tenants still missing something. Tenants are walked by id in
pages (`directory.tenant_pages`); a progress line is printed for each tenant that got something, and every
100th. A session-level advisory lock keeps two runners (two `release` phases) from racing.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from scimhub.tenancy import directory
from scimhub.tenancy.db import Connection, admin_connect, database_name, read_install_id, with_database
from scimhub.tenancy.roles import ensure_app_login, ensure_app_role

_LOCK_KEY = 0x5C1A_B000


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str


@dataclass
class MigrateReport:
    public_applied: int = 0
    tenants: int = 0
    tenant_applied: int = 0
    seconds: float = 0.0


def migration_from_file(path: str) -> Migration:
    """An extra tenant migration from a `.sql` file, named after the file (`scimhub migrate
    --with-tenant-migration`: rehearsing a migration over many tenants, `ops/scale_tenants.py`, tests)."""
    with open(path, encoding="utf-8") as f:
        sql = f.read()
    name = os.path.splitext(os.path.basename(path))[0]
    if not name or not sql.strip():
        raise ValueError(f"{path}: an empty migration")
    return Migration(name, sql)


def load_migrations(package: str) -> list[Migration]:
    mod = importlib.import_module(package)
    found = []
    for info in pkgutil.iter_modules(mod.__path__):
        if info.name.startswith("m") and info.name[1:5].isdigit():
            sub = importlib.import_module(f"{package}.{info.name}")
            found.append(Migration(info.name, sub.SQL))
    return sorted(found, key=lambda m: m.name)


async def ensure_database(database_url: str) -> bool:
    """Create the database named in the URL if it is missing and the role may; True when created."""
    name = database_name(database_url)
    try:
        conn = await admin_connect(database_url)
    except asyncpg.InvalidCatalogNameError:
        pass
    else:
        await conn.close()
        return False
    conn = await admin_connect(with_database(database_url, "postgres"))
    try:
        await conn.execute('CREATE DATABASE "' + name.replace('"', '""') + '"')
    finally:
        await conn.close()
    return True


_RECORD_TABLE = """CREATE TABLE IF NOT EXISTS {table} (
    name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"""


async def _apply_public(conn: Connection, migrations: Sequence[Migration]) -> int:
    await conn.execute(_RECORD_TABLE.format(table="public.scimhub_migration"))
    done = {r["name"] for r in await conn.fetch("SELECT name FROM public.scimhub_migration")}
    applied = 0
    for m in migrations:
        if m.name in done:
            continue
        async with conn.transaction():
            await conn.execute(m.sql)
            await conn.execute("INSERT INTO public.scimhub_migration (name) VALUES ($1)", m.name)
        applied += 1
    return applied


async def apply_tenant_migrations(conn: Connection, schema: str, role: str, migrations: Sequence[Migration]) -> int:
    """Apply what `schema` misses, as its role, with the schema as search path. Returns how many."""
    applied = 0
    async with conn.transaction():
        await conn.execute("SELECT set_config('search_path', $1, true), set_config('role', $2, true)", schema, role)
        await conn.execute(_RECORD_TABLE.format(table="scimhub_migration"))
        done = {r["name"] for r in await conn.fetch("SELECT name FROM scimhub_migration")}
        for m in migrations:
            if m.name in done:
                continue
            await conn.execute(m.sql)
            await conn.execute("INSERT INTO scimhub_migration (name) VALUES ($1)", m.name)
            applied += 1
    return applied


async def migrate(
    database_url: str,
    *,
    app_database_url: str,
    progress: Callable[[str], None] = print,
    tenant_migrations: Sequence[Migration] | None = None,
    extra_tenant_migrations: Sequence[Migration] = (),
) -> MigrateReport:
    started = time.perf_counter()
    report = MigrateReport()
    if await ensure_database(database_url):
        progress(f"created database {database_name(database_url)}")
    public = load_migrations("migrations.public")
    tenant = list(tenant_migrations) if tenant_migrations is not None else load_migrations("migrations.tenant")
    tenant += extra_tenant_migrations
    conn = await admin_connect(database_url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        report.public_applied = await _apply_public(conn, public)
        progress(f"public: applied {report.public_applied}")
        install_id = await read_install_id(conn)
        await ensure_app_role(conn, install_id)
        login = await ensure_app_login(conn, install_id, app_database_url)
        progress(f"app login: {login}")
        total = int(await conn.fetchval("SELECT count(*) FROM public.tenant"))
        async for page in directory.tenant_pages(conn, install_id):
            for t in page:
                n = await apply_tenant_migrations(conn, t.schema, t.role, tenant)
                report.tenants += 1
                report.tenant_applied += n
                if n or report.tenants % 100 == 0 or report.tenants == total:
                    progress(f"[{report.tenants}/{total}] {t.slug} ({t.schema}): applied {n}")
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()
    report.seconds = time.perf_counter() - started
    progress(
        f"migrated: public +{report.public_applied}, {report.tenants} tenant schemas "
        f"+{report.tenant_applied} in {report.seconds:.1f}s"
    )
    return report
