"""The rows of a tenant's custom attributes (issue #12), in its own schema (inside a tenant scope).

What the rows mean is `scim/extensions.py`; the rules for changing them are `admins/attributes.py`; the
web's cached registry is `provisioning/extensions.py`. This module only reads and writes the tables of
tenant migration m0050.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from scimhub.tenancy.db import Connection

TABLES = {"User": "scim_user", "Group": "scim_group"}


class AttributeRow(msgspec.Struct, frozen=True, kw_only=True):
    resource_type: str
    urn: str
    name: str
    type: str
    multi_valued: bool = False
    case_exact: bool = False
    unique: bool = False
    required: bool = False
    description: str = ""
    status: str = "active"
    declared_at: dt.datetime | None = None
    removed_at: dt.datetime | None = None


class SeenRow(msgspec.Struct, frozen=True, kw_only=True):
    resource_type: str
    urn: str
    name: str
    first_seen_at: dt.datetime


class SchemaState(msgspec.Struct, frozen=True, kw_only=True):
    mode: str
    version: int
    attributes: list[AttributeRow]


_COLUMNS = (
    "resource_type, urn, name, type, multi_valued, case_exact, is_unique AS unique, required, description, "
    "status, declared_at, removed_at"
)


async def load(conn: Connection, *, include_removed: bool = False) -> SchemaState:
    """The mode, version and declarations (active ones, or all) in one round trip each."""
    setting = await conn.fetchrow("SELECT mode, version FROM scim_schema_setting")
    where = "" if include_removed else " WHERE status = 'active'"
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM scim_attribute{where} ORDER BY resource_type, urn, name")  # noqa: S608 - constant table names and SQL templates; values are bind parameters
    mode, version = (setting["mode"], setting["version"]) if setting is not None else ("lenient", 0)
    return SchemaState(mode=mode, version=version, attributes=[AttributeRow(**dict(r)) for r in rows])


async def find(conn: Connection, resource_type: str, urn: str, name: str) -> AttributeRow | None:
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM scim_attribute WHERE resource_type = $1 AND lower(urn) = lower($2) "  # noqa: S608 - constant table names and SQL templates; values are bind parameters
        "AND lower(name) = lower($3)",
        resource_type,
        urn,
        name,
    )
    return AttributeRow(**dict(r)) if r is not None else None


async def count_active(conn: Connection) -> int:
    n: int = await conn.fetchval("SELECT count(*) FROM scim_attribute WHERE status = 'active'")
    return n


async def upsert(conn: Connection, row: AttributeRow) -> None:
    await conn.execute(
        """INSERT INTO scim_attribute (resource_type, urn, name, type, multi_valued, case_exact, is_unique, required,
               description, status, declared_at, removed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active', now(), NULL)
           ON CONFLICT (resource_type, lower(urn), lower(name)) DO UPDATE SET urn = excluded.urn,
               name = excluded.name, type = excluded.type, multi_valued = excluded.multi_valued,
               case_exact = excluded.case_exact, is_unique = excluded.is_unique, required = excluded.required,
               description = excluded.description, status = 'active', removed_at = NULL""",
        row.resource_type,
        row.urn,
        row.name,
        row.type,
        row.multi_valued,
        row.case_exact,
        row.unique,
        row.required,
        row.description,
    )
    await bump(conn)


async def mark_removed(conn: Connection, resource_type: str, urn: str, name: str) -> None:
    await conn.execute(
        "UPDATE scim_attribute SET status = 'removed', removed_at = now() WHERE resource_type = $1 "
        "AND lower(urn) = lower($2) AND lower(name) = lower($3)",
        resource_type,
        urn,
        name,
    )
    await bump(conn)


async def forget(conn: Connection, resource_type: str, urn: str, name: str) -> None:
    await conn.execute(
        "DELETE FROM scim_attribute WHERE resource_type = $1 AND lower(urn) = lower($2) AND lower(name) = lower($3)",
        resource_type,
        urn,
        name,
    )
    await conn.execute(
        "DELETE FROM scim_attribute_seen WHERE resource_type = $1 AND lower(urn) = lower($2) "
        "AND lower(name) = lower($3)",
        resource_type,
        urn,
        name,
    )
    await bump(conn)


async def set_mode(conn: Connection, mode: str) -> str:
    """Set the mode; the previous one."""
    before: str = await conn.fetchval("SELECT mode FROM scim_schema_setting FOR UPDATE")
    await conn.execute("UPDATE scim_schema_setting SET mode = $1, version = version + 1", mode)
    return before


async def bump(conn: Connection) -> None:
    await conn.execute("UPDATE scim_schema_setting SET version = version + 1")


async def record_seen(conn: Connection, resource_type: str, found: list[tuple[str, str]]) -> None:
    """Remember undeclared custom attributes a lenient tenant kept (the hub's "seen, not declared")."""
    await conn.execute(
        """INSERT INTO scim_attribute_seen (resource_type, urn, name)
           SELECT $1, u, n FROM unnest($2::text[], $3::text[]) AS x(u, n)
           ON CONFLICT (resource_type, lower(urn), lower(name)) DO NOTHING""",
        resource_type,
        [u for u, _ in found],
        [n for _, n in found],
    )


async def seen_not_declared(conn: Connection) -> list[SeenRow]:
    rows = await conn.fetch(
        """SELECT s.resource_type, s.urn, s.name, s.first_seen_at FROM scim_attribute_seen s
           WHERE NOT EXISTS (SELECT 1 FROM scim_attribute a WHERE a.status = 'active'
               AND a.resource_type = s.resource_type AND lower(a.urn) = lower(s.urn)
               AND lower(a.name) = lower(s.name))
           ORDER BY s.resource_type, s.urn, s.name LIMIT 1000"""
    )
    return [SeenRow(**dict(r)) for r in rows]
