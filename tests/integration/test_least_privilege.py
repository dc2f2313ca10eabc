"""Least privilege in PostgreSQL (#11 item 6): the web/worker login can only become tenant roles and use the
app's grants on `public`; no statement that drops or swaps the role reaches another tenant's schema, creates a
role, or reads a digest."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from scimhub import admins
from scimhub.http.services import Services
from scimhub.tenancy.db import Connection
from scimhub.tenancy.names import app_role_name
from scimhub.tenancy.roles import RoleError, ensure_app_login, login_role, quote_ident
from scimhub.tenancy.tokens import token_digest
from scimhub.tenancy.transaction import tenant_transaction
from tests.support.tenants import TenantHandle, create_tenant


class Rollback(Exception):
    """Ends a test transaction: nothing a probe did may stay on the pooled (or PgBouncer's) connection."""


@asynccontextmanager
async def probe(services: Services, tenant: TenantHandle) -> AsyncIterator[Connection]:
    """Tenant A's transaction on the app pool, rolled back at the end."""
    try:
        async with tenant_transaction(services.db.pool, tenant.tenant) as conn:
            yield conn
            raise Rollback
    except Rollback:
        pass


async def refused(conn: Connection, sql: str) -> None:
    """`sql` fails for lack of privilege (inside a savepoint when in a transaction, so the probe goes on)."""
    in_transaction = conn.is_in_transaction()
    if in_transaction:
        await conn.execute("SAVEPOINT probe")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.fetch(sql)
    if in_transaction:
        await conn.execute("ROLLBACK TO SAVEPOINT probe")


async def test_app_login_has_no_power_of_its_own(services: Services, admin: asyncpg.Connection) -> None:
    login = login_role(services.settings.app_database_url)
    row = await admin.fetchrow(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin FROM pg_roles "
        "WHERE rolname = $1",
        login,
    )
    assert row is not None
    assert dict(row) == {
        "rolsuper": False,
        "rolcreaterole": False,
        "rolcreatedb": False,
        "rolreplication": False,
        "rolbypassrls": False,
        "rolcanlogin": True,
    }
    owned = await admin.fetchval(
        """SELECT (SELECT count(*) FROM pg_class WHERE relowner = $1::regrole)
                + (SELECT count(*) FROM pg_namespace WHERE nspowner = $1::regrole)
                + (SELECT count(*) FROM pg_proc WHERE proowner = $1::regrole)""",
        login,
    )
    assert owned == 0
    # Its only membership is the app role.
    member_of = await admin.fetch(
        "SELECT roleid::regrole::text AS r FROM pg_auth_members WHERE member = $1::regrole", login
    )
    assert [r["r"] for r in member_of] == [app_role_name(services.db.install_id)]
    async with services.db.pool.acquire() as conn:
        for sql in (
            f"CREATE ROLE {quote_ident('x' + uuid.uuid4().hex[:8])}",
            "CREATE SCHEMA sneaky",
            "CREATE TABLE public.sneaky (id int)",
            "CREATE FUNCTION public.sneaky() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        ):
            await refused(conn, sql)


async def test_dropping_or_swapping_the_role_reaches_no_tenant_schema(
    services: Services, database: str, admin: asyncpg.Connection
) -> None:
    a = await create_tenant(database)
    b = await create_tenant(database)
    owner = await admin.fetchval("SELECT current_user")
    app_role = app_role_name(services.db.install_id)
    login = login_role(services.settings.app_database_url)
    for switch in ("RESET ROLE", "SET ROLE NONE", f"SET ROLE {quote_ident(app_role)}"):
        async with probe(services, a) as conn:
            await conn.execute(switch)
            assert await conn.fetchval("SELECT current_user") in {login, app_role}
            # Neither the other tenant's tables nor the tenant's own are reachable any more.
            await refused(conn, f"SELECT * FROM {b.tenant.schema}.scim_user")
            await refused(conn, f"DELETE FROM {b.tenant.schema}.scim_user")
            await refused(conn, f"SELECT * FROM {a.tenant.schema}.scim_user")
            await refused(conn, "SELECT digest FROM public.tenant_token")
    for reset in ("RESET ALL", "DISCARD ALL"):
        async with probe(services, a) as conn:
            await conn.execute("SAVEPOINT probe")
            try:
                await conn.execute(reset)  # DISCARD ALL cannot run in a transaction block: refused either way
            except asyncpg.ActiveSQLTransactionError:
                await conn.execute("ROLLBACK TO SAVEPOINT probe")
            await refused(conn, f"SELECT * FROM {b.tenant.schema}.scim_user")
    for switch in (f"SET SESSION AUTHORIZATION {quote_ident(owner)}", f"SET ROLE {quote_ident(owner)}"):
        async with probe(services, a) as conn:
            await refused(conn, switch)


async def test_app_login_reads_no_digest(services: Services, database: str, admin: asyncpg.Connection) -> None:
    a = await create_tenant(database)
    b = await create_tenant(database)
    # Whatever tables come: no digest column of `public` (`digest`, `state_digest`, ...) is readable by the app login.
    digests = await admin.fetch(
        """SELECT table_name, column_name,
                  has_column_privilege($1, format('public.%I', table_name), column_name, 'SELECT') AS can
           FROM information_schema.columns WHERE table_schema = 'public' AND column_name LIKE '%digest'""",
        login_role(services.settings.app_database_url),
    )
    assert {r["table_name"] for r in digests} >= {"tenant_token", "admin_session", "admin_api_key", "admin_oidc_state"}
    assert [(r["table_name"], r["column_name"]) for r in digests if r["can"]] == []
    async with services.db.pool.acquire() as conn:
        await admins.create_admin(conn, a.tenant.id, "ada@example.com", "correct horse battery")
        await admins.create_api_key(conn, a.tenant.id)
        for table in ("tenant_token", "admin_session", "admin_api_key"):
            await refused(conn, f"SELECT digest FROM public.{table}")
            await refused(conn, f"SELECT * FROM public.{table}")
        await refused(conn, "SELECT csrf_token FROM public.admin_session")
        for column in ("state_digest", "browser_digest", "nonce", "code_verifier", "*"):
            await refused(conn, f"SELECT {column} FROM public.admin_oidc_state")
        # The admin trail is written, never rewritten: no UPDATE of what an entry says, no DELETE.
        await refused(conn, "UPDATE public.admin_trail SET summary = 'nothing happened'")
        await refused(conn, "DELETE FROM public.admin_trail")
        # The lookup returns the row of the digest given, and only that one: a wrong digest finds nothing.
        rows = await conn.fetch("SELECT tenant_id FROM public.scimhub_use_tenant_token($1)", token_digest(b.token))
        assert [r["tenant_id"] for r in rows] == [b.tenant.id]
        wrong = await conn.fetch("SELECT * FROM public.scimhub_use_tenant_token($1)", token_digest("shs_wrong"))
        assert wrong == []
        # What the hub shows of tokens stays readable.
        hints = await conn.fetch("SELECT hint FROM public.tenant_token WHERE tenant_id = $1", a.tenant.id)
        assert [r["hint"] for r in hints] == ["…" + a.token[-4:]]


async def test_a_started_oidc_sign_in_is_taken_once_without_reading_a_digest(
    services: Services, tenant: TenantHandle, admin: asyncpg.Connection
) -> None:
    for state, browser in (("state-one", "browser-one"), ("state-two", "browser-two")):
        await admin.execute(
            """INSERT INTO public.admin_oidc_state (state_digest, tenant_id, browser_digest, nonce, code_verifier,
                   expires_at) VALUES ($1, $2, $3, 'n', 'v', now() + interval '10 minutes')""",
            token_digest(state),
            tenant.tenant.id,
            token_digest(browser),
        )
    take = "SELECT same_browser, nonce, code_verifier FROM public.scimhub_take_oidc_state($1, $2, $3)"
    async with services.db.pool.acquire() as conn:
        # Another tenant's id finds nothing (and consumes nothing).
        assert (
            await conn.fetch(take, token_digest("state-one"), tenant.tenant.id + 1, token_digest("browser-one")) == []
        )
        first = await conn.fetch(take, token_digest("state-one"), tenant.tenant.id, token_digest("browser-one"))
        assert [tuple(r) for r in first] == [(True, "n", "v")]
        assert await conn.fetch(take, token_digest("state-one"), tenant.tenant.id, token_digest("browser-one")) == []
        # Another browser: consumed all the same, and reported as another browser.
        other = await conn.fetch(take, token_digest("state-two"), tenant.tenant.id, token_digest("browser-one"))
        assert [r["same_browser"] for r in other] == [False]
        assert await conn.fetch(take, token_digest("state-two"), tenant.tenant.id, token_digest("browser-two")) == []


async def test_tenant_roles_cannot_call_the_lookups(services: Services, tenant: TenantHandle) -> None:
    async with probe(services, tenant) as conn:
        for call in (
            "public.scimhub_use_tenant_token",
            "public.scimhub_find_admin_session",
            "public.scimhub_end_admin_session",
            "public.scimhub_use_admin_api_key",
        ):
            await refused(conn, f"SELECT {call}('\\x00'::bytea)")
        await refused(conn, "SELECT public.scimhub_take_oidc_state('\\x00'::bytea, 1, '\\x00'::bytea)")
        await refused(conn, "SELECT * FROM public.tenant")


@pytest.mark.parametrize("power", ["SUPERUSER", "CREATEROLE", "BYPASSRLS"])
async def test_migrate_refuses_a_powerful_app_login(services: Services, admin: asyncpg.Connection, power: str) -> None:
    name = f"shtest_{uuid.uuid4().hex[:8]}"
    await admin.execute(f"CREATE ROLE {quote_ident(name)} LOGIN {power}")
    try:
        with pytest.raises(RoleError, match=power):
            await ensure_app_login(admin, services.db.install_id, f"postgresql://{name}@127.0.0.1/x")
    finally:
        await admin.execute(f"DROP ROLE {quote_ident(name)}")


async def test_migrate_refuses_the_owner_as_app_login(services: Services, admin: asyncpg.Connection) -> None:
    owner = await admin.fetchval("SELECT current_user")
    with pytest.raises(RoleError, match="owner"):
        await ensure_app_login(admin, services.db.install_id, f"postgresql://{owner}@127.0.0.1/x")
