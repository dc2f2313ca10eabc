"""The database roles of an installation and what each may do (least privilege, #11 item 6).

- the **owner** (SCIMHUB_DATABASE_URL's login): owns `public` and creates tenant schemas and roles; only
  `scimhub migrate` and the operator CLI use it.
- the **app role** `sh<install>_app` (NOLOGIN NOINHERIT): holds exactly the grants on `public` that the web
  and the workers need (`ensure_app_role`), and is a member of every tenant role, without inheriting
  their rights.
- the **app login** (SCIMHUB_APP_DATABASE_URL's role, by default `<database>_app`): LOGIN, no superuser,
  no CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS, owns nothing, member of the app role only. It inherits
  the app role's grants on `public` and nothing of any tenant; it reaches a tenant's schema only inside
  `tenant_transaction` (`SET LOCAL ROLE` of that tenant's role). Its search path defaults to `pg_catalog`
  in this database, so a query outside a tenant transaction finds no tenant table.
- one NOLOGIN **tenant role** `sh<install>_t<id>` per tenant, owner of the tenant's schema.

So `RESET ROLE`, `SET ROLE NONE`, `RESET ALL` or `DISCARD ALL` land on the app login, which can read no tenant
schema and no digest column; `SET SESSION AUTHORIZATION` needs a superuser. A whole `SET ROLE <tenant role>`
statement does reach that tenant: one login serves every tenant from one pool and PostgreSQL has no one-way
role switch. The app never sends statement text taken from input (bind parameters only), and the one
statement that sets a role (`names.scope_sql`) is built from derived names.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from scimhub.tenancy.db import Connection
from scimhub.tenancy.names import app_role_name


class RoleError(RuntimeError):
    """The app login cannot be used as it is (too powerful, or the owner itself); the message says why."""


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def login_role(app_database_url: str) -> str:
    """The role named in the app login's URL."""
    user = urlsplit(app_database_url).username
    if not user:
        raise RoleError("the app database URL names no login role")
    return unquote(user)


# What the web and the workers do on `public`, and nothing more:
# - SCIM: find the tenant of a token (`scimhub_use_tenant_token`; the digest column itself is not readable);
# - the hub and the admin API: switch the connector, edit notification settings, list/issue/expire/revoke
#   tokens; invite, list and remove administrators (their sessions go with them: the foreign key cascades as
#   the table's owner), change passwords, record sign-ins and their throttle counts; list and end hub
#   sessions; issue, list and revoke scoped admin API keys; write and read the admin trail (no UPDATE of what
#   an entry says, no DELETE: only its notice state moves); the tenant's identity-provider settings and the
#   sign-ins started there. Sessions, keys and started sign-ins are found by digest through the functions of
#   public migrations m0003 and m0021, never by reading a digest;
# - workers: tenants and their settings (drain, purge, digests), security notices (claim, deliveries), the
#   purge of expired sessions, started sign-ins and old sign-in attempts, and which tenants' webhooks are due
#   (`webhook_due`: tenant ids and times only).
# Readable on purpose: `tenant_oidc.client_secret_encrypted`. The web process must send the client secret
# to the provider's token endpoint when a sign-in comes back, so it decrypts it; what the app login can read
# is ciphertext (Fernet, key derived from SCIMHUB_SECRET_KEY, which is not in the database).
_APP_GRANTS = """
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT ON public.scimhub_installation TO {role};
GRANT SELECT ON public.tenant TO {role};
GRANT UPDATE (status, notify_emails, notify_enabled, digest_window_minutes, updated_at) ON public.tenant TO {role};
GRANT SELECT (id, tenant_id, hint, created_at, last_used_at, expires_at, revoked_at) ON public.tenant_token
    TO {role};
GRANT INSERT (tenant_id, digest, hint) ON public.tenant_token TO {role};
GRANT UPDATE (expires_at, revoked_at) ON public.tenant_token TO {role};
GRANT USAGE ON SEQUENCE public.tenant_token_id_seq TO {role};
GRANT SELECT, INSERT, DELETE ON public.admin_user TO {role};
GRANT UPDATE (password_hash, must_change_password, last_login_at, invitation_expires_at, oidc_subject)
    ON public.admin_user TO {role};
GRANT SELECT, INSERT, DELETE ON public.admin_signin TO {role};
GRANT SELECT (id, admin_id, tenant_id, created_at, expires_at, client_ip, user_agent, method)
    ON public.admin_session TO {role};
GRANT INSERT, DELETE ON public.admin_session TO {role};
GRANT SELECT (id, tenant_id, hint, label, scopes, created_at, last_used_at, expires_at, revoked_at)
    ON public.admin_api_key TO {role};
GRANT INSERT (tenant_id, digest, hint, label, scopes, expires_at) ON public.admin_api_key TO {role};
GRANT UPDATE (revoked_at) ON public.admin_api_key TO {role};
GRANT SELECT, INSERT ON public.admin_trail TO {role};
GRANT UPDATE (notice, notice_claimed_at) ON public.admin_trail TO {role};
GRANT SELECT, INSERT ON public.admin_notice_delivery TO {role};
GRANT UPDATE (status, detail, created_at) ON public.admin_notice_delivery TO {role};
GRANT SELECT, INSERT, DELETE ON public.tenant_oidc TO {role};
GRANT UPDATE (issuer, client_id, client_secret_encrypted, password_signin, updated_at) ON public.tenant_oidc
    TO {role};
GRANT SELECT (tenant_id, expires_at) ON public.admin_oidc_state TO {role};
GRANT INSERT, DELETE ON public.admin_oidc_state TO {role};
GRANT USAGE ON SEQUENCE public.admin_user_id_seq, public.admin_signin_id_seq, public.admin_api_key_id_seq,
    public.admin_session_id_seq, public.admin_trail_id_seq TO {role};
GRANT SELECT (id, hint, label, created_at, last_used_at, revoked_at) ON public.host_api_key TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON public.webhook_due TO {role};
GRANT EXECUTE ON FUNCTION public.scimhub_use_tenant_token(bytea), public.scimhub_find_admin_session(bytea),
    public.scimhub_end_admin_session(bytea), public.scimhub_use_admin_api_key(bytea),
    public.scimhub_take_oidc_state(bytea, bigint, bytea), public.scimhub_use_host_key(bytea) TO {role};
"""

# Grants an earlier version gave the app role and this one does not (rerunning `migrate` takes them back):
# before least privilege, every admin table was SELECT, INSERT, UPDATE, DELETE.
_REVOKED = """
REVOKE SELECT, UPDATE ON public.tenant_token FROM {role};
REVOKE SELECT, UPDATE ON public.admin_session, public.admin_api_key FROM {role};
REVOKE UPDATE, DELETE ON public.admin_signin FROM {role};
REVOKE UPDATE, DELETE ON public.admin_user FROM {role};
REVOKE ALL ON public.admin_trail, public.admin_notice_delivery, public.tenant_oidc, public.admin_oidc_state
    FROM {role};
"""


async def ensure_app_role(conn: Connection, install_id: str) -> str:
    """The installation's app role with exactly `_APP_GRANTS` (idempotent). Returns its name."""
    role = app_role_name(install_id)
    if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
        await conn.execute(f"CREATE ROLE {quote_ident(role)} NOLOGIN NOINHERIT")
    async with conn.transaction():
        # Table-level REVOKE also removes column grants; the grants below then restore exactly what is listed.
        await conn.execute(_REVOKED.format(role=quote_ident(role)))
        await conn.execute(_APP_GRANTS.format(role=quote_ident(role)))
    return role


# What every session of the app login starts with, straight to PostgreSQL and through PgBouncer alike (a role's
# settings apply when a server connection logs in; PgBouncer refuses them as startup parameters).
# - search_path: nothing until a tenant block scopes it (`tenancy.session_scope`, `tenancy.names.scope_sql`).
# - jit off: the service sends short OLTP statements only, and the planner's estimates for the CTEs that
#   unpack JSON arrays (the change sequencer's `jsonb_array_elements`, the activity drain's `unnest`) run
#   into the hundreds of millions of rows: over `jit_above_cost`, so PostgreSQL compiled ~50 functions,
#   ~250 ms of CPU, for each run of a statement that moves a few rows in under 1 ms (issue #13).
_LOGIN_SETTINGS = ("search_path = pg_catalog", "jit = off")


async def ensure_app_login(conn: Connection, install_id: str, app_database_url: str) -> str:
    """Create the app login if it is missing (with the URL's password, if any), make it a member of the app
    role and give it `pg_catalog` as search path in this database. Raises RoleError for a login that would
    weaken isolation: a superuser, one with CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS, the owner or a
    member of it, or one that owns anything here."""
    login = login_role(app_database_url)
    app = app_role_name(install_id)
    owner = await conn.fetchval("SELECT current_user")
    if login == owner:
        raise RoleError(
            f"SCIMHUB_APP_DATABASE_URL logs in as {login!r}, the owner of SCIMHUB_DATABASE_URL: "
            "give the web and workers a login of their own"
        )
    row = await conn.fetchrow(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = $1",
        login,
    )
    if row is None:
        password = urlsplit(app_database_url).password
        clause = ""
        if password:
            clause = " PASSWORD " + str(await conn.fetchval("SELECT quote_literal($1)", unquote(password)))
        await conn.execute(
            f"CREATE ROLE {quote_ident(login)} LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
            f"NOBYPASSRLS{clause}"
        )
    else:
        attributes = ("SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS")
        powers = [name for name, on in zip(attributes, row, strict=True) if on]
        if powers:
            raise RoleError(f"the app login {login!r} has {', '.join(powers)}: it may only become tenant roles")
        if await conn.fetchval("SELECT pg_has_role($1, current_user, 'MEMBER')", login):
            raise RoleError(f"the app login {login!r} is a member of the owner {owner!r}")
        owns = await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM pg_class WHERE relowner = $1::regrole)
                   OR EXISTS (SELECT 1 FROM pg_namespace WHERE nspowner = $1::regrole)
                   OR EXISTS (SELECT 1 FROM pg_proc WHERE proowner = $1::regrole)""",
            login,
        )
        if owns:
            raise RoleError(f"the app login {login!r} owns objects in this database: it must own nothing")
    database = await conn.fetchval("SELECT current_database()")
    await conn.execute(f"GRANT {quote_ident(app)} TO {quote_ident(login)}")
    for setting in _LOGIN_SETTINGS:
        await conn.execute(f"ALTER ROLE {quote_ident(login)} IN DATABASE {quote_ident(database)} SET {setting}")
    return login
