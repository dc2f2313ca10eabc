"""A pooled connection that stays scoped to one tenant between its transactions (issue #13).

`tenant_transaction` scopes a transaction with `set_config(..., true)`: three round trips for a one-statement
read (`BEGIN`+scope, the statement, `COMMIT`). With the pool straight to PostgreSQL (pool mode "session"),
the web pool instead sets the scope session-wide (`set_config(..., false)`) and remembers, on the connection
object itself (`ScopedConnection.tenant_scope`), which tenant's scope it holds. The next request of that
tenant on that connection sends its statement alone; a request of another tenant re-scopes first.

Why a request can never run under another tenant's scope:
- the record lives on the asyncpg `Connection` object; a reconnect is a new object, which starts `PUBLIC`
  (the login's own defaults: no role, `search_path = pg_catalog`);
- it is set to `UNKNOWN` *before* any scope statement is sent and to a tenant only after PostgreSQL has
  applied that scope for good: after the autocommit scope statement returned, or after the `COMMIT` of the
  transaction that carried it (a `ROLLBACK` would undo a `set_config` made inside it);
- any exception in a block (a failed statement, a cancelled request, a closed connection) leaves `UNKNOWN`;
- a tenant block whose connection does not say exactly its own tenant id re-scopes (both the role and the
  search path, in one message) before its first statement;
- `FairPool.acquire()` (token lookups, the hub's public tables) gets a connection that is `PUBLIC`: one still
  scoped is reset (`RESET ROLE`, `RESET search_path`, `RESET statement_timeout`) before it is handed out.
PostgreSQL still enforces the isolation itself: the tenant role has no rights on another tenant's schema.

Behind PgBouncer in transaction mode a session setting would leak to other clients, so there the pool keeps
the transaction-local scope of `names.scope_sql` (`FairPool.sticky` is off).
"""

from __future__ import annotations

from typing import Any, cast

from scimhub.tenancy.names import check_scope_names, timeout_ms
from scimhub.tenancy.statement_cache import TenantStatementConnection

PUBLIC = 0  # the login's defaults (tenant ids start at 1)
UNKNOWN = -1  # anything may be set: re-scope or reset before use

UNSCOPE_SQL = "RESET ROLE; RESET search_path; RESET statement_timeout"


class ScopedConnection(TenantStatementConnection):
    """An asyncpg connection that remembers whose session scope it holds (and keeps each tenant's prepared
    statements apart, `tenancy.statement_cache`)."""

    __slots__ = ("tenant_scope",)

    def held_scope(self) -> int:
        return cast(int, getattr(self, "tenant_scope", PUBLIC))

    def record_scope(self, value: int) -> None:
        self.tenant_scope = value


_SESSION_SCOPE = "SELECT set_config('search_path', $1, false), set_config('role', $2, false)"
_SESSION_SCOPE_TIMEOUT = _SESSION_SCOPE + ", set_config('statement_timeout', $3, false)"


def session_scope_statement(
    schema: str, role: str, *, statement_timeout: float | None = None
) -> tuple[str, tuple[str, ...]]:
    """The tenant's scope for the rest of the session as one prepared statement and its arguments (a re-scope
    outside a transaction: prepared once per connection, not parsed and planned at every re-scope as the simple
    protocol's text was, ~15 us of PostgreSQL CPU each, issue #13). The names are checked all the same."""
    check_scope_names(schema, role)
    if statement_timeout is None:
        return _SESSION_SCOPE, (schema, role)
    return _SESSION_SCOPE_TIMEOUT, (schema, role, timeout_ms(statement_timeout))


def session_scope_sql(schema: str, role: str, *, statement_timeout: float | None = None) -> str:
    """The tenant's scope for the rest of the session, one simple-protocol statement (names checked as in
    `names.scope_sql`, so they are safe to inline)."""
    check_scope_names(schema, role)
    sql = "SELECT set_config('search_path', '" + schema + "', false), set_config('role', '" + role + "', false)"
    if statement_timeout is not None:
        sql += f", set_config('statement_timeout', '{timeout_ms(statement_timeout)}', false)"
    return sql


def held_scope(conn: Any) -> int:
    """The scope a connection (or a pool's proxy of one) holds; `PUBLIC` for a plain asyncpg connection."""
    method = getattr(conn, "held_scope", None)
    return cast(int, method()) if method is not None else PUBLIC


def record_scope(conn: Any, value: int) -> None:
    conn.record_scope(value)
