"""Preconditions of Citus schema-based sharding (#16 item 5, docs/CITUS.md): a tenant schema stands alone.

Citus 12 moves a distributed schema, with all its tables, to one node, and `public` tables become reference
tables copied to every node. That works when no foreign key leaves a tenant schema (Citus refuses a key from
a distributed schema into another one, and from a reference table into a distributed schema), and when no
statement of a tenant's requests names another tenant's schema; the second is checked by
`test_tenant_statements.py`.
"""

from __future__ import annotations

import asyncpg

from tests.support.tenants import create_tenant

_KEYS = """SELECT c.conname, n.nspname AS from_schema, rn.nspname AS to_schema
FROM pg_constraint c
JOIN pg_namespace n ON n.oid = c.connamespace
JOIN pg_class r ON r.oid = c.confrelid
JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE c.contype = 'f' AND (n.nspname LIKE 't\\_%' OR rn.nspname LIKE 't\\_%')"""


async def test_no_foreign_key_leaves_a_tenant_schema_or_enters_one(database: str, admin: asyncpg.Connection) -> None:
    await create_tenant(database)
    await create_tenant(database)
    keys = await admin.fetch(_KEYS)
    tenant_schemas = await admin.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 't\\_%'")
    assert tenant_schemas >= 2
    inside = [k for k in keys if k["from_schema"] == k["to_schema"]]
    # The query sees the keys that stay inside a schema (scim_group_member -> scim_group, in every tenant)...
    assert len({k["from_schema"] for k in inside}) == tenant_schemas
    # ...and there is no other kind.
    assert [dict(k) for k in keys if k["from_schema"] != k["to_schema"]] == []


async def test_every_object_of_a_tenant_schema_belongs_to_its_role(database: str, admin: asyncpg.Connection) -> None:
    """What `citus_schema_distribute` moves is the schema with everything in it: nothing of a tenant lives
    elsewhere (but its TOAST tables, which move with their tables), and nothing of another owner lives in it."""
    t = await create_tenant(database)
    owners = await admin.fetch(
        """SELECT DISTINCT pg_get_userbyid(c.relowner) AS owner FROM pg_class c
           WHERE c.relnamespace = $1::regnamespace""",
        t.tenant.schema,
    )
    assert [r["owner"] for r in owners] == [t.tenant.role]
    elsewhere = await admin.fetchval(
        """SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE pg_get_userbyid(c.relowner) = $1 AND n.nspname NOT IN ($2, 'pg_toast')""",
        t.tenant.role,
        t.tenant.schema,
    )
    assert elsewhere == 0
