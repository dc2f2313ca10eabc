"""Piccolo table definitions of a tenant schema, and running Piccolo-built queries on our connections.

The tables are never schema-qualified: the `tenant_transaction` search path picks the tenant. Piccolo builds
the SQL (composable WHERE clauses with `$n` parameters); asyncpg runs it on the transaction's own connection,
so Piccolo never opens a connection of its own (its engine below only names the SQL dialect).
`tests/integration/test_tables.py` checks these definitions against the migrated schema. Tables whose key is
composite (memberships, rollup hours, deliveries) get Piccolo's implicit `id`, which no query here uses.

The SCIM hot path (store/resources.py) keeps hand-written statements built once: DESIGN.md measured an
ORM-built statement at about 0.45 ms each, and those statements use data-modifying CTEs Piccolo cannot express.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from piccolo.columns import (
    JSONB,
    UUID,
    Array,
    BigInt,
    BigSerial,
    Boolean,
    Integer,
    Real,
    SmallInt,
    Text,
    Timestamptz,
)
from piccolo.engine.postgres import PostgresEngine
from piccolo.query.base import Query
from piccolo.table import Table

from scimhub.tenancy.db import Connection

DIALECT = PostgresEngine(config={})


class ScimUser(Table, tablename="scim_user", db=DIALECT):
    id = UUID(primary_key=True)
    user_name = Text()
    external_id = Text(null=True)
    display_name = Text(null=True)
    active = Boolean(null=True)
    version = BigInt()
    created = Timestamptz()
    last_modified = Timestamptz()
    doc = JSONB()


class ScimGroup(Table, tablename="scim_group", db=DIALECT):
    id = UUID(primary_key=True)
    display_name = Text()
    external_id = Text(null=True)
    version = BigInt()
    created = Timestamptz()
    last_modified = Timestamptz()
    doc = JSONB()


class ScimGroupMember(Table, tablename="scim_group_member", db=DIALECT):
    group_id = UUID()
    member_id = UUID()
    member_type = Text()


class AuditOutbox(Table, tablename="audit_outbox", db=DIALECT):
    seq = BigSerial(primary_key=True)
    event = JSONB()
    created_at = Timestamptz()


class ActivityLog(Table, tablename="activity_log", db=DIALECT):
    event_id = UUID(primary_key=True)
    received_at = Timestamptz()
    logged_at = Timestamptz()
    duration_ms = Real(null=True)
    request_id = Text(null=True)
    client_ip = Text(null=True)
    user_agent = Text(null=True)
    method = Text()
    path = Text()
    operation = Text()
    resource_type = Text(null=True)
    resource_id = Text(null=True)
    target = Text(null=True)
    status = SmallInt()
    outcome = Text()
    error_type = Text(null=True)
    error_detail = Text(null=True)
    changed = Array(Text())
    rewrites = Array(Text())
    request_body = Text(null=True)
    response_body = Text(null=True)
    repeat = Integer()
    notify = Boolean()


class ActivityHourly(Table, tablename="activity_hourly", db=DIALECT):
    hour = Timestamptz()
    outcome = Text()
    n = BigInt()


class NotifyDigest(Table, tablename="notify_digest", db=DIALECT):
    id = UUID(primary_key=True)
    kind = Text()
    created_at = Timestamptz()
    window_start = Timestamptz(null=True)
    window_end = Timestamptz()
    failures = Integer()
    auth_failures = Integer()
    status = Text()


class NotifyDelivery(Table, tablename="notify_delivery", db=DIALECT):
    digest_id = UUID()
    recipient = Text()
    status = Text()
    detail = Text(null=True)
    created_at = Timestamptz()


TENANT_TABLES: tuple[type[Table], ...] = (
    ScimUser,
    ScimGroup,
    ScimGroupMember,
    AuditOutbox,
    ActivityLog,
    ActivityHourly,
    NotifyDigest,
    NotifyDelivery,
)


def compile_query(query: Query[Any, Any]) -> tuple[str, list[Any]]:
    """The SQL text and bind values Piccolo builds for `query` (PostgreSQL `$n` placeholders)."""
    sql, args = query.querystrings[0].compile_string(engine_type="postgres")
    return sql, list(args)


async def fetch(conn: Connection, query: Query[Any, Any]) -> list[asyncpg.Record]:
    sql, args = compile_query(query)
    rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
    return rows
