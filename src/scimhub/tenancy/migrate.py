"""The migration runner: the public schema first, then every tenant schema, each recorded where it applies.

Safe to rerun: a schema records the migrations it has (`scimhub_migration` inside it), and a run applies only
the missing ones, each in its own transaction. A session-level advisory lock keeps two runners (two
`release` phases) from racing.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from scimhub.tenancy import directory
from scimhub.tenancy.db import Connection, admin_connect, database_name, read_install_id, with_database
from scimhub.tenancy.names import app_role_name

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


async def ensure_app_role(conn: Connection, install_id: str) -> str:
    """The installation's app role: no login, owns nothing, reaches tenant data only via SET ROLE."""
    role = app_role_name(install_id)
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
    if not exists:
        await conn.execute(f'CREATE ROLE "{role}" NOLOGIN NOINHERIT')
    # The login role of SCIMHUB_DATABASE_URL must be able to SET ROLE to it.
    is_super = await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    if not is_super:
        await conn.execute(f'GRANT "{role}" TO CURRENT_USER')
    await conn.execute(
        f"""
        GRANT USAGE ON SCHEMA public TO "{role}";
        GRANT SELECT ON public.tenant, public.tenant_token TO "{role}";
        GRANT UPDATE (last_used_at) ON public.tenant_token TO "{role}";
        """
    )
    # The admin hub: a tenant's administrators switch its connector, rotate its token and edit its
    # notification settings; every hub query is bound to the signed-in administrator's tenant.
    if await conn.fetchval("SELECT to_regclass('public.admin_user') IS NOT NULL"):
        await conn.execute(
            f"""
            GRANT UPDATE (status, notify_emails, notify_enabled, digest_window_minutes, updated_at)
                ON public.tenant TO "{role}";
            GRANT INSERT, UPDATE (expires_at, revoked_at) ON public.tenant_token TO "{role}";
            GRANT USAGE ON SEQUENCE public.tenant_token_id_seq TO "{role}";
            GRANT SELECT, INSERT, UPDATE, DELETE ON public.admin_user, public.admin_session, public.admin_signin,
                public.admin_api_key TO "{role}";
            GRANT USAGE ON SEQUENCE public.admin_user_id_seq, public.admin_signin_id_seq, public.admin_api_key_id_seq
                TO "{role}";
            """
        )
    # Administrators' lifecycle, the admin trail, security notices and OIDC sign-in (issue #15,
    # migrations/public/m0020_admin_lifecycle.py): bound to the signed-in tenant by every query in admins/.
    if await conn.fetchval("SELECT to_regclass('public.admin_trail') IS NOT NULL"):
        await conn.execute(
            f"""
            GRANT SELECT, INSERT, UPDATE, DELETE ON public.admin_trail, public.admin_notice_delivery,
                public.tenant_oidc, public.admin_oidc_state TO "{role}";
            GRANT USAGE ON SEQUENCE public.admin_trail_id_seq, public.admin_session_id_seq TO "{role}";
            """
        )
    return role


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
    progress: Callable[[str], None] = print,
    tenant_migrations: Sequence[Migration] | None = None,
) -> MigrateReport:
    started = time.perf_counter()
    report = MigrateReport()
    if await ensure_database(database_url):
        progress(f"created database {database_name(database_url)}")
    public = load_migrations("migrations.public")
    tenant = list(tenant_migrations) if tenant_migrations is not None else load_migrations("migrations.tenant")
    conn = await admin_connect(database_url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        report.public_applied = await _apply_public(conn, public)
        progress(f"public: applied {report.public_applied}")
        install_id = await read_install_id(conn)
        await ensure_app_role(conn, install_id)
        found = await directory.tenants_by_id(conn, install_id, None)
        report.tenants = len(found)
        for i, t in enumerate(found, 1):
            n = await apply_tenant_migrations(conn, t.schema, t.role, tenant)
            report.tenant_applied += n
            if n or i == len(found) or i % 100 == 0:
                progress(f"[{i}/{len(found)}] {t.schema} applied {n}")
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()
    report.seconds = time.perf_counter() - started
    progress(
        f"migrated: public +{report.public_applied}, {report.tenants} tenant schemas "
        f"+{report.tenant_applied} in {report.seconds:.1f}s"
    )
    return report
