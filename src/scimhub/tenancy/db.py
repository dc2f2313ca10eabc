"""Connections to PostgreSQL.

Two kinds:
- `admin_connection`: the owner's login as given in SCIMHUB_DATABASE_URL, used by migrations and the CLI to
  create schemas and roles.
- `AppDatabase`: the web and worker pool, logged in as the app login of SCIMHUB_APP_DATABASE_URL
  (`tenancy.roles`): it inherits only the app role's grants on `public`, its search path is `pg_catalog`, and
  it reaches a tenant's schema only inside `tenant_transaction`. A pooled connection carries no session
  state at all (no `SET`, no role, nothing prepared in "transaction" pool mode), so the pool may sit behind
  PgBouncer in transaction mode: whatever server connection a transaction lands on, it starts as the login.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from scimhub.tenancy.fairness import FairPool
from scimhub.tenancy.statement_cache import TenantStatementConnection

# Prepared statements asyncpg keeps per pooled connection. Each tenant has its own (`tenancy.statement_cache`):
# an Entra cycle uses about 20 statement texts, so a connection keeps those of its ~12 most recent tenants
# (~34 kB of backend memory per statement, measured: at most ~9 MB per connection).
STATEMENT_CACHE = 256

# What a query function takes: a connection of its own (`admin_connect`: the CLI, migrations) or one the pool
# lends (`AppDatabase.pool.acquire()`, `tenant_transaction`). asyncpg's stubs type the two apart.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy

# Errors of reaching PostgreSQL, not of a statement: worth retrying later (a restart, a failover, a full
# connection slot list). Celery tasks retry on these and on nothing else of the database's.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


class DatabaseNotMigrated(RuntimeError):
    """The database has no installation record yet: run `scimhub migrate`."""


async def admin_connect(
    database_url: str, *, database: str | None = None, statement_cache_size: int = 100
) -> asyncpg.Connection:
    kwargs: dict[str, Any] = {"statement_cache_size": statement_cache_size}
    if database:
        kwargs["database"] = database
    conn: asyncpg.Connection = await asyncpg.connect(database_url, timeout=10, **kwargs)
    return conn


@asynccontextmanager
async def admin_connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await admin_connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def fetch_one(conn: Connection, query: str, *args: object) -> asyncpg.Record:
    """The row of a statement that always returns exactly one (an aggregate without GROUP BY, a one-row table,
    a data-modifying CTE read by a top-level SELECT). Its absence is a broken invariant: RuntimeError."""
    row = await conn.fetchrow(query, *args)
    if row is None:
        raise RuntimeError("a statement that always returns one row returned none")
    return row


def database_name(database_url: str) -> str:
    return urlsplit(database_url).path.lstrip("/") or "postgres"


def with_database(database_url: str, name: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path="/" + name))


async def read_install_id(conn: Connection) -> str:
    try:
        value = await conn.fetchval("SELECT install_id FROM public.scimhub_installation")
    except asyncpg.UndefinedTableError:
        value = None
    if not value:
        raise DatabaseNotMigrated("the database is not migrated yet: run `scimhub migrate`")
    return str(value)


_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode


async def set_json_codec(conn: asyncpg.Connection) -> None:
    """jsonb <-> Python through msgspec, in PostgreSQL's binary format (a version byte, then JSON text)."""
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        format="binary",
        encoder=lambda value: b"\x01" + _json_encode(value),
        decoder=lambda data: _json_decode(data[1:]),
    )


async def _reset(conn: asyncpg.Connection) -> None:
    # Tenant scope is transaction-local, so ending any open transaction is all the reset needed; asyncpg's
    # default reset (RESET ALL and friends) would cost a round trip on every release.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


class AppDatabase:
    """The application's connection pool (web process and workers)."""

    def __init__(self, pool: asyncpg.Pool, install_id: str) -> None:
        self.pool = pool
        self.install_id = install_id

    @classmethod
    async def open(
        cls,
        app_database_url: str,
        *,
        size: int = 8,
        pool_mode: str = "session",
        tenant_share: int | None = None,
        acquire_timeout: float = 5.0,
        statement_timeout: float | None = None,
        max_queries: int = 5_000,
        idle_seconds: float = 120.0,
    ) -> AppDatabase:
        """The pool of the app login. `pool_mode="transaction"` (PgBouncer pool_mode=transaction): asyncpg
        keeps no prepared statement (statement_cache_size=0: each statement is parsed in the message sequence
        that runs it), since the next transaction may land on another server connection, or another client's
        statements on this one. With `tenant_share` (the web process) it is a `tenancy.fairness.FairPool`: a
        tenant holds at most that many connections at once, waits at most `acquire_timeout` seconds for one,
        and its statements stop after `statement_timeout` seconds (transaction-local, so PgBouncer-safe).
        A connection is replaced after `max_queries` queries or `idle_seconds` idle (0: never), which bounds
        the catalog cache each backend builds up over the tenant schemas it touches."""
        probe = await admin_connect(app_database_url, statement_cache_size=0)
        try:
            install_id = await read_install_id(probe)
        finally:
            await probe.close()
        options: dict[str, Any] = {
            "min_size": 1,
            "max_size": size,
            "init": set_json_codec,
            "reset": _reset,
            "timeout": 10,
            "command_timeout": 30,
            "max_queries": max_queries,
            "max_inactive_connection_lifetime": idle_seconds,
            "statement_cache_size": 0 if pool_mode == "transaction" else STATEMENT_CACHE,
            # Startup parameters only: PgBouncer refuses unknown ones (the search path is the login's default).
            "server_settings": {"application_name": "scimhub"},
        }
        if tenant_share is None:
            pool = await asyncpg.create_pool(app_database_url, connection_class=TenantStatementConnection, **options)
        else:
            # asyncpg.create_pool builds its Pool with these defaults; FairPool is that Pool plus the shares.
            pool = await FairPool(
                app_database_url,
                connection_class=TenantStatementConnection,
                record_class=asyncpg.Record,
                loop=None,
                per_tenant=tenant_share,
                acquire_timeout=acquire_timeout,
                statement_timeout=statement_timeout,
                # Straight to PostgreSQL a connection keeps its tenant's scope between transactions
                # (`tenancy.session_scope`); behind PgBouncer in transaction mode it cannot.
                sticky=pool_mode == "session",
                **options,
            )
        return cls(pool, install_id)

    async def close(self) -> None:
        await self.pool.close()
