"""How long `scimhub migrate` takes with many tenants (issue #2's note).

Creates N tenants in a scratch database (default scimhub_scale, 1,000 tenants), then times:
1. `scimhub migrate` when nothing is pending (the per-release cost);
2. a new tenant migration reaching every tenant (a probe table, added and then dropped again).
Usage: python ops/scale_migrate.py [--tenants 1000] [--database-url postgresql://127.0.0.1:5432/scimhub_scale]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

from scimhub.settings import default_app_database_url
from scimhub.tenancy import tenants
from scimhub.tenancy.db import admin_connect
from scimhub.tenancy.migrate import Migration, load_migrations, migrate
from scimhub.tenancy.roles import login_role


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=1000)
    ap.add_argument("--database-url", default="postgresql://127.0.0.1:5432/scimhub_scale")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database and its tenants")
    args = ap.parse_args()
    url = args.database_url
    await migrate(url, app_database_url=default_app_database_url(url), progress=lambda _l: None)
    conn = await admin_connect(url)
    have = await conn.fetchval("SELECT count(*) FROM public.tenant")
    t0 = time.perf_counter()
    for i in range(have, args.tenants):
        await tenants.create_tenant(conn, f"scale-{i:05d}", public_url="http://127.0.0.1:8000")
    created = time.perf_counter() - t0
    await conn.close()
    print(f"created {args.tenants - have} tenants in {created:.1f}s ({args.tenants} in all)")

    t0 = time.perf_counter()
    out = subprocess.run(
        [str(Path(sys.executable).parent / "scimhub"), "migrate"],
        capture_output=True,
        text=True,
        env={"SCIMHUB_DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        check=True,
    )
    print(f"scimhub migrate, nothing pending, {args.tenants} tenants: {time.perf_counter() - t0:.1f}s")
    print("  " + out.stdout.strip().splitlines()[-1])

    probe = [*load_migrations("migrations.tenant"), Migration("m9999_scale_probe", "CREATE TABLE scale_probe (id int)")]
    lines: list[str] = []
    t0 = time.perf_counter()
    report = await migrate(
        url, app_database_url=default_app_database_url(url), progress=lines.append, tenant_migrations=probe
    )
    print(
        f"a new tenant migration applied to {report.tenants} tenants: {time.perf_counter() - t0:.1f}s "
        f"(+{report.tenant_applied}); progress lines look like: {lines[1]!r}"
    )
    if not args.keep:
        await drop_scratch(url)
        print("dropped the scratch database and its roles (--keep keeps them)")


async def drop_scratch(url: str) -> None:
    from scimhub.tenancy.db import database_name, with_database

    conn = await admin_connect(url)
    install = await conn.fetchval("SELECT install_id FROM public.scimhub_installation")
    await conn.close()
    admin = await admin_connect(with_database(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE "{database_name(url)}" WITH (FORCE)')
        for r in await admin.fetch("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", f"sh{install}\\_%"):
            await admin.execute(f'DROP ROLE "{r["rolname"]}"')
        await admin.execute(f'DROP ROLE IF EXISTS "{login_role(default_app_database_url(url))}"')
    finally:
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
