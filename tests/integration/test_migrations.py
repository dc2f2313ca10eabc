"""The migration runner: reruns apply nothing, a new tenant migration reaches every tenant."""

from __future__ import annotations

import asyncpg

from scimhub.tenancy.migrate import Migration, load_migrations, migrate
from scimhub.tenancy.names import schema_name
from tests.support.settings import make_settings
from tests.support.tenants import create_tenant


async def test_rerun_applies_nothing(database: str) -> None:
    await create_tenant(database)
    lines: list[str] = []
    report = await migrate(database, app_database_url=make_settings().app_database_url, progress=lines.append)
    assert report.public_applied == 0
    assert report.tenant_applied == 0
    assert report.tenants >= 1
    assert any(line.startswith(f"[{report.tenants}/{report.tenants}]") for line in lines)


async def test_new_tenant_migration_reaches_every_existing_tenant(database: str, admin: asyncpg.Connection) -> None:
    handles = [await create_tenant(database) for _ in range(3)]
    extra = [
        *load_migrations("migrations.tenant"),
        Migration("m9999_test_probe", "CREATE TABLE migration_probe (id int PRIMARY KEY)"),
    ]
    lines: list[str] = []
    report = await migrate(
        database, app_database_url=make_settings().app_database_url, progress=lines.append, tenant_migrations=extra
    )
    assert report.tenant_applied == report.tenants
    for h in handles:
        schema = schema_name(h.tenant.id)
        assert (
            await admin.fetchval(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = $1 AND table_name = 'migration_probe'",
                schema,
            )
            == 1
        )
        owner = await admin.fetchval(
            "SELECT tableowner FROM pg_tables WHERE schemaname = $1 AND tablename = 'migration_probe'", schema
        )
        assert owner == h.tenant.role
        assert (
            await admin.fetchval(f"SELECT count(*) FROM {schema}.scimhub_migration WHERE name = 'm9999_test_probe'")
            == 1
        )
    again = await migrate(
        database, app_database_url=make_settings().app_database_url, progress=lines.append, tenant_migrations=extra
    )
    assert again.tenant_applied == 0
    for h in handles:
        await admin.execute(f"DROP TABLE {schema_name(h.tenant.id)}.migration_probe")
        await admin.execute(f"DELETE FROM {schema_name(h.tenant.id)}.scimhub_migration WHERE name = 'm9999_test_probe'")
