"""Reads and writes of Users and Groups in the current tenant schema (inside `tenant_transaction`).

Tables are never schema-qualified here: the transaction's search path selects the tenant. Every statement
is static text (asyncpg prepares it once per connection) except list queries, whose WHERE clause comes from
`filter_sql` with bind parameters only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec

from scimhub.scim.errors import InvalidFilter, InvalidPath, InvalidValue, Uniqueness
from scimhub.scim.extensions import index_name
from scimhub.scim.filters import Node
from scimhub.scim.patch import MemberDelta
from scimhub.scim.schemas import ResolvedAttr, ResourceType
from scimhub.store.filter_sql import compile_filter, compile_member_filter, sort_expression
from scimhub.tenancy.db import Connection, fetch_one


class StaleVersion(Exception):
    """`update(..., expected_version=...)` found another version (a concurrent write) or no row: nothing
    was written; read again and retry."""


class Row(msgspec.Struct, frozen=True):
    """One stored resource: its SCIM document and the metadata the store keeps beside it."""

    id: uuid.UUID
    doc: dict[str, Any]
    created: dt.datetime
    last_modified: dt.datetime
    version: int
    related: list[dict[str, Any]] | None = None  # a user's groups or a group's members, when read


def _row(r: asyncpg.Record, related: bool) -> Row:
    return Row(r["id"], r["doc"], r["created"], r["last_modified"], r["version"], r["related"] if related else None)


def _user_columns(doc: dict[str, Any]) -> tuple[str, str | None, str | None, bool | None]:
    active = doc.get("active")
    return doc["userName"], doc.get("externalId"), doc.get("displayName"), active if isinstance(active, bool) else None


_USER_GROUPS = """(SELECT coalesce(jsonb_agg(jsonb_build_object('value', g.id::text, 'display', g.display_name,
    'type', 'direct') ORDER BY g.display_name), '[]'::jsonb)
    FROM scim_group_member gm JOIN scim_group g ON g.id = gm.group_id WHERE gm.member_id = u.id)"""
_GROUP_MEMBERS = """(SELECT coalesce(jsonb_agg(jsonb_build_object('value', m.member_id::text,
    'type', m.member_type) ORDER BY m.member_id), '[]'::jsonb)
    FROM scim_group_member m WHERE m.group_id = g.id)"""

_COLUMNS = {
    ("User", True): f"u.id, u.doc, u.created, u.last_modified, u.version, {_USER_GROUPS} AS related",
    ("User", False): "u.id, u.doc, u.created, u.last_modified, u.version",
    ("Group", True): f"g.id, g.doc, g.created, g.last_modified, g.version, {_GROUP_MEMBERS} AS related",
    ("Group", False): "g.id, g.doc, g.created, g.last_modified, g.version",
}
_FROM = {"User": "scim_user u", "Group": "scim_group g"}
_SQL = {key: f"SELECT {cols} FROM {_FROM[key[0]]}" for key, cols in _COLUMNS.items()}
_ALIAS = {"User": "u", "Group": "g"}
_TABLE = {"User": "scim_user", "Group": "scim_group"}


def _unique_error(rtype: ResourceType, doc: dict[str, Any], constraint: str | None = None) -> Uniqueness:
    if constraint and constraint.startswith("scim_cx_"):
        for ext in rtype.custom():
            for attr in ext.attributes:
                if index_name(rtype.name, ext.id, attr.name, unique=True) == constraint:
                    return Uniqueness(
                        f"{ext.id}:{attr.name} is declared unique for this tenant's {rtype.name} resources, and "
                        "another one already has this value"
                    )
        return Uniqueness(f"a unique custom attribute's value is already used by another {rtype.name}")
    if rtype.name == "User":
        return Uniqueness(
            f"userName {doc.get('userName')!r} is already used by another user of this tenant "
            "(userName is unique, compared case-insensitively)"
        )
    return Uniqueness(
        f"displayName {doc.get('displayName')!r} is already used by another group of this tenant "
        "(group displayName is unique, compared case-insensitively)"
    )


_OUTBOX = ", ob AS (INSERT INTO audit_outbox (event) SELECT ${n}::text::jsonb FROM w)"


def _with_outbox(write_sql: str, n_params: int, outbox: str | None) -> tuple[str, bool]:
    """`WITH w AS (<write> RETURNING ...)[, ob AS (INSERT INTO audit_outbox ...)] SELECT * FROM w`.

    The activity event rides in the same statement as the change (one round trip, same transaction)."""
    sql = f"WITH w AS ({write_sql})"
    if outbox is not None:
        sql += _OUTBOX.format(n=n_params + 1)
    return sql + " SELECT * FROM w", outbox is not None


async def insert(
    conn: Connection,
    rtype: ResourceType,
    rid: uuid.UUID,
    doc: dict[str, Any],
    now: dt.datetime,
    *,
    outbox: str | None = None,
) -> Row:
    try:
        if rtype.name == "User":
            user_name, external_id, display_name, active = _user_columns(doc)
            args: list[Any] = [rid, user_name, external_id, display_name, active, now, doc]
            sql, extra = _with_outbox(
                "INSERT INTO scim_user (id, user_name, external_id, display_name, active, version, created, "
                "last_modified, doc) VALUES ($1, $2, $3, $4, $5, 1, $6, $6, $7) RETURNING id",
                len(args),
                outbox,
            )
        else:
            args = [rid, doc["displayName"], doc.get("externalId"), now, doc]
            sql, extra = _with_outbox(
                "INSERT INTO scim_group (id, display_name, external_id, version, created, last_modified, doc) "
                "VALUES ($1, $2, $3, 1, $4, $4, $5) RETURNING id",
                len(args),
                outbox,
            )
        await conn.execute(sql, *args, *([outbox] if extra else []))
    except asyncpg.UniqueViolationError as exc:
        raise _unique_error(rtype, doc, exc.constraint_name) from None
    return Row(rid, doc, now, now, 1)


async def get(
    conn: Connection, rtype: ResourceType, rid: uuid.UUID, *, related: bool, for_update: bool = False
) -> Row | None:
    sql = _SQL[(rtype.name, related)] + f" WHERE {_ALIAS[rtype.name]}.id = $1"
    if for_update:
        sql += " FOR UPDATE"
    r = await conn.fetchrow(sql, rid)
    return _row(r, related) if r is not None else None


async def update(
    conn: Connection,
    rtype: ResourceType,
    rid: uuid.UUID,
    doc: dict[str, Any],
    now: dt.datetime,
    *,
    outbox: str | None = None,
    expected_version: int | None = None,
) -> int:
    """Write the new document; returns the new version. With `expected_version` (a write without a row lock)
    only if the stored version is still that one, else `StaleVersion` and nothing is written."""
    try:
        if rtype.name == "User":
            user_name, external_id, display_name, active = _user_columns(doc)
            args: list[Any] = [rid, user_name, external_id, display_name, active, doc, now]
            write = (
                "UPDATE scim_user SET user_name = $2, external_id = $3, display_name = $4, active = $5, "
                "doc = $6, last_modified = $7, version = version + 1 WHERE id = $1"
            )
        else:
            args = [rid, doc["displayName"], doc.get("externalId"), doc, now]
            write = (
                "UPDATE scim_group SET display_name = $2, external_id = $3, doc = $4, last_modified = $5, "
                "version = version + 1 WHERE id = $1"
            )
        if expected_version is not None:
            args.append(expected_version)
            write += f" AND version = ${len(args)}"
        sql, extra = _with_outbox(write + " RETURNING version", len(args), outbox)
        version = await conn.fetchval(sql, *args, *([outbox] if extra else []))
    except asyncpg.UniqueViolationError as exc:
        raise _unique_error(rtype, doc, exc.constraint_name) from None
    if version is None:
        raise StaleVersion(f"{rtype.name} {rid} changed (or went) since it was read")
    return int(version)


async def touch_group(conn: Connection, gid: uuid.UUID, now: dt.datetime, *, outbox: str | None = None) -> int:
    args: list[Any] = [gid, now]
    sql, extra = _with_outbox(
        "UPDATE scim_group SET last_modified = $2, version = version + 1 WHERE id = $1 RETURNING version",
        len(args),
        outbox,
    )
    version = await conn.fetchval(sql, *args, *([outbox] if extra else []))
    return int(version)


_DELETE = """WITH gone AS (DELETE FROM {table} WHERE id = $1 RETURNING {name} AS name),
        left_groups AS (DELETE FROM scim_group_member WHERE member_id = $1 AND EXISTS (SELECT 1 FROM gone)
                        RETURNING group_id),
        bumped AS (UPDATE scim_group SET version = version + 1, last_modified = $2
                   WHERE id IN (SELECT group_id FROM left_groups) RETURNING 1),
        ob AS (INSERT INTO audit_outbox (event)
               SELECT $3::text::jsonb || jsonb_build_object('target', name) FROM gone WHERE $3::text IS NOT NULL)
   SELECT (SELECT name FROM gone) AS name, (SELECT count(*) FROM bumped) AS groups"""
_DELETES = {
    "User": _DELETE.format(table="scim_user", name="user_name"),
    "Group": _DELETE.format(table="scim_group", name="display_name"),
}


async def delete(
    conn: Connection, rtype: ResourceType, rid: uuid.UUID, now: dt.datetime, *, outbox: str | None = None
) -> str | None:
    """Delete the resource; returns its userName/displayName, or None when there was none.

    RFC 7644 §3.6: a deleted resource leaves every group it was in, and those groups change version. The
    activity event (if given) gets the deleted resource's name and is written in the same statement.
    """
    row = await fetch_one(conn, _DELETES[rtype.name], rid, now, outbox)
    name: str | None = row["name"]
    return name


async def list_page(
    conn: Connection,
    rtype: ResourceType,
    node: Node | None,
    *,
    sort_by: ResolvedAttr | None,
    descending: bool,
    offset: int,
    limit: int,
    related: bool,
) -> tuple[int, list[Row]]:
    alias = _ALIAS[rtype.name]
    where, params = compile_filter(rtype, node, alias)
    direction = "DESC" if descending else "ASC"
    order = f"{alias}.created {direction}, {alias}.id {direction}"
    if sort_by is not None:
        order = f"{sort_expression(rtype, sort_by, alias)} {direction} NULLS LAST, " + order
    if limit == 0:
        return await _total(conn, rtype, where, params), []
    n = len(params)
    # The page's ids first, on the table alone (an index-only scan of `(created, id)` for an unfiltered list,
    # stopping after offset + limit entries), then those rows with their documents: a deep startIndex skips
    # index entries, not documents. No window count: it would read every match first (~1 s for a page of
    # 1,000,000 users). A page shorter than asked for tells the total itself (every filter lookup); an
    # unfiltered list reads it from `scim_resource_count` (tenant m0041); only a full filtered page counts.
    ids = f"SELECT {alias}.id FROM {_TABLE[rtype.name]} {alias} WHERE {where} ORDER BY {order} "
    ids += f"OFFSET ${n + 1} LIMIT ${n + 2}"
    sql = f"SELECT {_COLUMNS[(rtype.name, related)]} FROM {_FROM[rtype.name]} WHERE {alias}.id = ANY(ARRAY({ids}))"
    rows = await conn.fetch(f"{sql} ORDER BY {order}", *params, offset, limit)
    found = [_row(r, related) for r in rows]
    if (rows and len(rows) < limit) or (not rows and offset == 0):
        return offset + len(rows), found
    return await _total(conn, rtype, where, params), found


async def _total(conn: Connection, rtype: ResourceType, where: str, params: list[Any]) -> int:
    """How many resources match: the kept count without a filter (tenant m0041), else a count."""
    if where == "true":
        total = await conn.fetchval("SELECT n FROM scim_resource_count WHERE resource = $1", rtype.name)
    else:
        alias = _ALIAS[rtype.name]
        total = await conn.fetchval(f"SELECT count(*) FROM {_TABLE[rtype.name]} {alias} WHERE {where}", *params)
    return int(total)


# ------------------------------------------------------------------------------------------ members


async def add_members(conn: Connection, gid: uuid.UUID, members: dict[uuid.UUID, str]) -> int:
    """Insert memberships (existing ones are kept); every id must be a User or Group of this tenant, also when
    another transaction deletes one meanwhile (`invalidValue`)."""
    if not members:
        return 0
    ids = list(members)
    try:
        row = await fetch_one(
            conn,
            """WITH wanted AS (SELECT unnest($2::uuid[]) AS id),
                    found AS (SELECT w.id, CASE WHEN u.id IS NOT NULL THEN 'User'
                                                WHEN g.id IS NOT NULL THEN 'Group' END AS kind
                              FROM wanted w LEFT JOIN scim_user u ON u.id = w.id LEFT JOIN scim_group g ON g.id = w.id),
                    ins AS (INSERT INTO scim_group_member (group_id, member_id, member_type)
                            SELECT $1, id, kind FROM found WHERE kind IS NOT NULL AND id <> $1
                            ON CONFLICT DO NOTHING RETURNING 1)
               SELECT array_agg(id) FILTER (WHERE kind IS NULL) AS missing, (SELECT count(*) FROM ins) AS added
               FROM found""",
            gid,
            ids,
        )
    except asyncpg.ForeignKeyViolationError:
        # A member deleted by a concurrent transaction after this statement's snapshot (tenant migration m0006).
        raise InvalidValue("cannot add members that are not Users or Groups of this tenant") from None
    missing = row["missing"] or []
    if missing:
        shown = ", ".join(str(m) for m in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise InvalidValue(f"cannot add members that are not Users or Groups of this tenant: {shown}{more}")
    return int(row["added"])


async def _remove_members(conn: Connection, gid: uuid.UUID, ids: Sequence[uuid.UUID]) -> int:
    if not ids:
        return 0
    result = await conn.execute(
        "DELETE FROM scim_group_member WHERE group_id = $1 AND member_id = ANY($2::uuid[])", gid, list(ids)
    )
    return int(result.split()[-1])


async def _remove_members_where(conn: Connection, gid: uuid.UUID, where: Node) -> int:
    """Remove the members matching a filter bound inside `members[...]` (`members[type eq "Group"]`), in one
    DELETE; a filter on what a member row does not hold is `invalidPath`."""
    params: list[Any] = [gid]
    try:
        condition = compile_member_filter(where, params)
    except InvalidFilter as exc:
        raise InvalidPath(f"cannot remove members by that filter: {exc.detail}") from None
    result = await conn.execute(f"DELETE FROM scim_group_member m WHERE m.group_id = $1 AND {condition}", *params)
    return int(result.split()[-1])


async def _clear_members(conn: Connection, gid: uuid.UUID) -> int:
    result = await conn.execute("DELETE FROM scim_group_member WHERE group_id = $1", gid)
    return int(result.split()[-1])


async def apply_member_changes(conn: Connection, gid: uuid.UUID, delta: MemberDelta) -> None:
    """Apply a PATCH's or PUT's member changes in `MemberDelta`'s order: clear, remove ids, then each step's
    adds and filtered removals. Each is one statement, whatever the group's size."""
    if delta.remove_all:
        await _clear_members(conn, gid)
    await _remove_members(conn, gid, list(delta.remove))
    for step in delta.steps:
        await add_members(conn, gid, step.add)
        for where in step.remove_where:
            await _remove_members_where(conn, gid, where)


async def member_rows(conn: Connection, gid: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT member_id, member_type FROM scim_group_member WHERE group_id = $1", gid)
    return [{"value": str(r["member_id"]), "type": r["member_type"]} for r in rows]


class ResourceCounts(msgspec.Struct, frozen=True, kw_only=True):
    """How many users (of them active) and groups a tenant has (the hub's overview)."""

    users: int
    active_users: int
    groups: int


async def count_resources(conn: Connection) -> ResourceCounts:
    """Counts of the tenant whose transaction `conn` is in; a user whose `active` is unset counts as active."""
    row = await fetch_one(
        conn,
        """SELECT (SELECT count(*) FROM scim_user) AS users,
                  (SELECT count(*) FROM scim_user WHERE active IS NOT false) AS active_users,
                  (SELECT count(*) FROM scim_group) AS groups""",
    )
    return ResourceCounts(users=row["users"], active_users=row["active_users"], groups=row["groups"])
