"""Each tenant's own prepared statements on a pooled connection (issue #13).

asyncpg prepares every statement with arguments once per connection and keeps it in a cache keyed by its text.
All tenants send the same texts (the same tables in their own schemas, reached through the search path), so
with a shared cache a statement prepared for tenant A ran for tenant B on the same connection, and PostgreSQL
re-plans a prepared statement whenever the search path differs from the one its plan was made under: after
every re-scope every statement was planned again (a user read plans in ~300 us and runs in ~35 us; planning
was ~200 us of PostgreSQL CPU per request at c=64, ~10% of the whole request).

Inside a tenant block (`tenancy.transaction`) the connection puts a comment naming the tenant's schema in
front of each statement text: the texts differ per tenant, so each tenant has its own prepared statements,
each planned under its own search path, which a re-scope to another tenant and back leaves valid. The comment
changes nothing else: PostgreSQL still resolves every name through the search path the block set, and would
re-plan if it differed. The cost is memory, bounded by asyncpg's cache (`statement_cache_size` per connection,
least recently used first out) and by the pool replacing a connection after `max_queries`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg

from scimhub.tenancy.model import Tenant
from scimhub.tenancy.names import check_scope_names


class TenantStatementConnection(asyncpg.Connection):
    """An asyncpg connection whose prepared statements are kept per tenant schema while a block is tagged."""

    __slots__ = ("statement_tag",)

    def tag_statements(self, tag: str) -> None:
        self.statement_tag = tag

    async def _get_statement(self, query: str, timeout: Any, **kwargs: Any) -> Any:  # noqa: ASYNC109 - asyncpg's
        # Every prepared statement (fetch, fetchrow, fetchval, execute with arguments, executemany, prepare)
        # is looked up and prepared here; a plain `execute` without arguments is not prepared and not cached.
        tag = getattr(self, "statement_tag", "")
        return await super()._get_statement(tag + query if tag else query, timeout, **kwargs)  # type: ignore[misc]


@contextmanager
def statements_of(conn: Any, tenant: Tenant) -> Iterator[None]:
    """The block's prepared statements are the tenant's own (a no-op on a connection of another class, such as
    the operator CLI's admin connection). The schema name is checked as for the scope: it is inlined."""
    tag = getattr(conn, "tag_statements", None)
    if tag is None:
        yield
        return
    tag(_tag(tenant.schema, tenant.role))
    try:
        yield
    finally:
        tag("")


@functools.lru_cache(maxsize=4096)
def _tag(schema: str, role: str) -> str:
    """The comment for a schema, its names checked once (not on every block of the request path)."""
    check_scope_names(schema, role)
    return "/*" + schema + "*/"


def with_limit(template: str, limit: int) -> str:
    """`template` with its `{limit}` written as a number. A `LIMIT $1` makes PostgreSQL plan the statement
    afresh at every execution (it never prefers a generic plan whose row count it cannot know: the worker's
    drain and sequencer spent ~350 us planning each batch of a few ms); with the number inlined the statement
    is planned once per connection and tenant. One text per distinct limit, so callers pass a few constants."""
    if type(limit) is not int or limit < 1:  # a bool is an int to isinstance
        raise ValueError("a LIMIT is a positive whole number")
    return template.replace("{limit}", str(limit))
