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
_CHANGES = ", ev AS (INSERT INTO event_pending (change) SELECT ${n}::text::jsonb FROM w)"


def _with_outbox(
    write_sql: str, n_params: int, outbox: str | None, changes: str | None = None
) -> tuple[str, list[str]]:
    """`WITH w AS (<write> RETURNING ...)[, ob AS (INSERT INTO audit_outbox ...)][, ev AS (INSERT INTO
    event_pending ...)] SELECT * FROM w`, and the extra parameters.

    The activity event and the change events (`events.changes`) ride in the same statement as the change
    (one round trip, same transaction)."""
    sql = f"WITH w AS ({write_sql})"
    extra: list[str] = []
    if outbox is not None:
        extra.append(outbox)
        sql += _OUTBOX.format(n=n_params + len(extra))
    if changes is not None:
        extra.append(changes)
        sql += _CHANGES.format(n=n_params + len(extra))
    return sql + " SELECT * FROM w", extra


async def insert(
    conn: Connection,
    rtype: ResourceType,
    rid: uuid.UUID,
    doc: dict[str, Any],
    now: dt.datetime,
    *,
    outbox: str | None = None,
    changes: str | None = None,
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
                changes,
            )
        else:
            args = [rid, doc["displayName"], doc.get("externalId"), now, doc]
            sql, extra = _with_outbox(
                "INSERT INTO scim_group (id, display_name, external_id, version, created, last_modified, doc) "
                "VALUES ($1, $2, $3, 1, $4, $4, $5) RETURNING id",
                len(args),
                outbox,
                changes,
            )
        await conn.execute(sql, *args, *extra)
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
    changes: str | None = None,
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
        sql, extra = _with_outbox(write + " RETURNING version", len(args), outbox, changes)
        version = await conn.fetchval(sql, *args, *extra)
    except asyncpg.UniqueViolationError as exc:
        raise _unique_error(rtype, doc, exc.constraint_name) from None
    if version is None:
        raise StaleVersion(f"{rtype.name} {rid} changed (or went) since it was read")
    return int(version)


async def touch_group(
    conn: Connection, gid: uuid.UUID, now: dt.datetime, *, outbox: str | None = None, changes: str | None = None
) -> int:
    args: list[Any] = [gid, now]
    sql, extra = _with_outbox(
        "UPDATE scim_group SET last_modified = $2, version = version + 1 WHERE id = $1 RETURNING version",
        len(args),
        outbox,
        changes,
    )
    version = await conn.fetchval(sql, *args, *extra)
    return int(version)


_DELETE = """WITH gone AS (DELETE FROM {table} WHERE id = $1 RETURNING {name} AS name),
        left_groups AS (DELETE FROM scim_group_member WHERE member_id = $1 AND EXISTS (SELECT 1 FROM gone)
                        RETURNING group_id),
        bumped AS (UPDATE scim_group SET version = version + 1, last_modified = $2
                   WHERE id IN (SELECT group_id FROM left_groups) RETURNING 1),
        ob AS (INSERT INTO audit_outbox (event)
               SELECT $3::text::jsonb || jsonb_build_object('target', name) FROM gone WHERE $3::text IS NOT NULL),
        ev AS (INSERT INTO event_pending (change) SELECT $4::text::jsonb FROM gone WHERE $4::text IS NOT NULL)
   SELECT (SELECT name FROM gone) AS name, (SELECT count(*) FROM bumped) AS groups"""
_DELETES = {
    "User": _DELETE.format(table="scim_user", name="user_name"),
    "Group": _DELETE.format(table="scim_group", name="display_name"),
}


async def delete(
    conn: Connection,
    rtype: ResourceType,
    rid: uuid.UUID,
    now: dt.datetime,
    *,
    outbox: str | None = None,
    changes: str | None = None,
) -> str | None:
    """Delete the resource; returns its userName/displayName, or None when there was none.

    RFC 7644 §3.6: a deleted resource leaves every group it was in, and those groups change version. The
    activity event (if given) gets the deleted resource's name and is written in the same statement.
    """
    row = await fetch_one(conn, _DELETES[rtype.name], rid, now, outbox, changes)
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


class MemberChanges(msgspec.Struct):
    """What a request's member statements really did, net (an id removed and added again is neither): the
    change events name exactly these (`events.changes`)."""

    added: dict[uuid.UUID, str] = {}
    removed: dict[uuid.UUID, str] = {}

    def took(self, added: dict[uuid.UUID, str], removed: dict[uuid.UUID, str]) -> None:
        for mid, kind in removed.items():
            if self.added.pop(mid, None) is None:
                self.removed[mid] = kind
        for mid, kind in added.items():
            if self.removed.pop(mid, None) is None:
                self.added[mid] = kind

    @property
    def empty(self) -> bool:
        return not self.added and not self.removed


def _pairs(rows: Sequence[asyncpg.Record]) -> dict[uuid.UUID, str]:
    return {r["member_id"]: r["member_type"] for r in rows}


async def add_members(conn: Connection, gid: uuid.UUID, members: dict[uuid.UUID, str]) -> dict[uuid.UUID, str]:
    """Insert memberships (existing ones are kept); every id must be a User or Group of this tenant, also when
    another transaction deletes one meanwhile (`invalidValue`). Returns the memberships really added."""
    if not members:
        return {}
    ids = [str(m) for m in members]  # text[], not uuid[]: see _PATCH_MEMBERS
    try:
        row = await fetch_one(
            conn,
            """WITH wanted AS (SELECT unnest($2::text[]::uuid[]) AS id),
                    found AS (SELECT w.id, CASE WHEN u.id IS NOT NULL THEN 'User'
                                                WHEN g.id IS NOT NULL THEN 'Group' END AS kind
                              FROM wanted w LEFT JOIN scim_user u ON u.id = w.id LEFT JOIN scim_group g ON g.id = w.id),
                    ins AS (INSERT INTO scim_group_member (group_id, member_id, member_type)
                            SELECT $1, id, kind FROM found WHERE kind IS NOT NULL AND id <> $1
                            ON CONFLICT DO NOTHING RETURNING member_id, member_type)
               SELECT array_agg(id::text) FILTER (WHERE kind IS NULL) AS missing,
                      (SELECT array_agg(member_id::text) FROM ins) AS added_ids,
                      (SELECT array_agg(member_type) FROM ins) AS added_types
               FROM found""",
            gid,
            ids,
        )
    except asyncpg.ForeignKeyViolationError:
        # A member deleted by a concurrent transaction after this statement's snapshot (tenant migration m0006).
        raise InvalidValue("cannot add members that are not Users or Groups of this tenant") from None
    missing = row["missing"] or []
    if missing:
        raise missing_members(missing)
    return dict(zip(map(uuid.UUID, row["added_ids"] or []), row["added_types"] or [], strict=True))


def missing_members(missing: Sequence[uuid.UUID | str]) -> InvalidValue:
    """The error of an add naming ids that are no User or Group of this tenant (the first five named)."""
    shown = ", ".join(str(m) for m in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return InvalidValue(f"cannot add members that are not Users or Groups of this tenant: {shown}{more}")


async def _remove_members(conn: Connection, gid: uuid.UUID, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await conn.fetch(
        "DELETE FROM scim_group_member WHERE group_id = $1 AND member_id = ANY($2::text[]::uuid[]) "
        "RETURNING member_id, member_type",
        gid,
        [str(m) for m in ids],
    )
    return _pairs(rows)


async def _remove_members_where(conn: Connection, gid: uuid.UUID, where: Node) -> dict[uuid.UUID, str]:
    """Remove the members matching a filter bound inside `members[...]` (`members[type eq "Group"]`), in one
    DELETE; a filter on what a member row does not hold is `invalidPath`."""
    params: list[Any] = [gid]
    try:
        condition = compile_member_filter(where, params)
    except InvalidFilter as exc:
        raise InvalidPath(f"cannot remove members by that filter: {exc.detail}") from None
    rows = await conn.fetch(
        f"DELETE FROM scim_group_member m WHERE m.group_id = $1 AND {condition} RETURNING m.member_id, m.member_type",
        *params,
    )
    return _pairs(rows)


async def _clear_members(conn: Connection, gid: uuid.UUID) -> dict[uuid.UUID, str]:
    rows = await conn.fetch("DELETE FROM scim_group_member WHERE group_id = $1 RETURNING member_id, member_type", gid)
    return _pairs(rows)


async def apply_member_changes(conn: Connection, gid: uuid.UUID, delta: MemberDelta) -> MemberChanges:
    """Apply a PATCH's or PUT's member changes in `MemberDelta`'s order: clear, remove ids, then each step's
    adds and filtered removals. Each is one statement, whatever the group's size. Returns what they did."""
    done = MemberChanges()
    if delta.remove_all:
        done.took({}, await _clear_members(conn, gid))
    done.took({}, await _remove_members(conn, gid, list(delta.remove)))
    for step in delta.steps:
        done.took(await add_members(conn, gid, step.add), {})
        for where in step.remove_where:
            done.took({}, await _remove_members_where(conn, gid, where))
    return done


_MEMBER_EVENT = """$%d::text::jsonb || jsonb_build_object('data', jsonb_build_object('members',
                 jsonb_agg(jsonb_build_object('value', member_id::text, 'type', member_type) ORDER BY member_id)))"""

# A group PATCH that only adds ids and removes listed ids, in one statement (issue #13). Every membership
# change of a group raises the group's version in its own transaction (this statement, the locking PATCH, a
# PUT, a deleted member's trigger), so the member rows are read and written only if the group is still at the
# version this statement's snapshot saw: `upd` bumps it only then (under its row lock; `If-Match` is checked
# against that same version), and every other write depends on `upd`. Unknown member ids write nothing.
# Ids travel as text[] (a uuid[] parameter or result makes asyncpg introspect the type once per connection).
# The added ids are unnested from behind `OFFSET 0`, so PostgreSQL estimates their number as it does for a
# generic plan (10) whatever the batch: with the array in sight each custom plan was cheaper than the generic
# one for small batches, so the statement was planned again at every execution (~400-700 us, issue #13).
_PATCH_MEMBERS = f"""WITH cur AS (SELECT version FROM scim_group WHERE id = $1),
    found AS (SELECT w.id, CASE WHEN u.id IS NOT NULL THEN 'User' WHEN g.id IS NOT NULL THEN 'Group' END AS kind
              FROM (SELECT $3::text[]::uuid[] AS ids OFFSET 0) AS a CROSS JOIN unnest(a.ids) AS w(id)
              LEFT JOIN scim_user u ON u.id = w.id LEFT JOIN scim_group g ON g.id = w.id),
    upd AS (UPDATE scim_group SET last_modified = $2, version = version + 1
            WHERE id = $1 AND version = (SELECT version FROM cur)
              AND ($5::text[] IS NULL OR '"' || (SELECT version FROM cur)::text || '"' = ANY($5::text[]))
              AND NOT EXISTS (SELECT 1 FROM found WHERE kind IS NULL)
            RETURNING version, display_name),
    del AS (DELETE FROM scim_group_member WHERE group_id = $1 AND member_id = ANY($4::text[]::uuid[])
              AND EXISTS (SELECT 1 FROM upd)
            RETURNING member_id, member_type),
    ins AS (INSERT INTO scim_group_member (group_id, member_id, member_type)
            SELECT $1, id, kind FROM found WHERE kind IS NOT NULL AND id <> $1 AND EXISTS (SELECT 1 FROM upd)
            ON CONFLICT DO NOTHING RETURNING member_id, member_type),
    ob AS (INSERT INTO audit_outbox (event)
           SELECT $6::text::jsonb || jsonb_build_object('target', CASE WHEN length(display_name) > $7
                  THEN left(display_name, $7 - 1) || '…' ELSE display_name END)
           FROM upd WHERE $6::text IS NOT NULL),
    parts AS (SELECT 1 AS k, {_MEMBER_EVENT % 9} AS e FROM del HAVING count(*) > 0
              UNION ALL
              SELECT 2, {_MEMBER_EVENT % 10} FROM ins HAVING count(*) > 0),
    ev AS (INSERT INTO event_pending (change)
           SELECT $8::text::jsonb || jsonb_build_object('events', jsonb_agg(e ORDER BY k)) FROM parts
           WHERE $8::text IS NOT NULL HAVING count(*) > 0)
SELECT (SELECT version FROM upd) AS version, (SELECT display_name FROM upd) AS display_name,
       (SELECT version FROM cur) AS seen, (SELECT array_agg(id::text) FROM found WHERE kind IS NULL) AS missing"""


class MemberEvents(msgspec.Struct, frozen=True):
    """The change events of a member PATCH, as JSON the statement completes with the members it really
    removed and added: the `event_pending` row without its `events`, and each event without its `data`."""

    pending: str
    removed: str
    added: str


class MembersPatched(msgspec.Struct, frozen=True):
    """What `patch_members` found: the new version and the group's displayName when it wrote; else the
    version its snapshot saw (None: no such group) and the ids that are no User or Group of this tenant."""

    version: int | None
    display_name: str | None
    seen: int | None
    missing: list[str]


async def patch_members(
    conn: Connection,
    gid: uuid.UUID,
    now: dt.datetime,
    *,
    add: Sequence[uuid.UUID],
    remove: Sequence[uuid.UUID],
    if_match: list[str] | None,
    outbox: str | None,
    target_limit: int,
    changes: MemberEvents | None,
) -> MembersPatched:
    """Add the ids in `add` (each must be a User or Group of this tenant; existing memberships are kept),
    remove those in `remove` (disjoint from `add`), raise the version, write the activity event (its `target`
    the group's displayName, cut to `target_limit` characters as `audit.sanitise` cuts) and the change
    events, in one statement; or nothing at all when the group is gone, `if_match` (opaque entity tags:
    `"7"`, None for no condition) names another version, an id is unknown, or the group changed after the
    statement's snapshot (`version` None: the caller tells which from `seen` and `missing`, and reads again)."""
    try:
        row = await fetch_one(
            conn,
            _PATCH_MEMBERS,
            gid,
            now,
            [str(m) for m in add],
            [str(m) for m in remove],
            if_match,
            outbox,
            target_limit,
            changes.pending if changes is not None else None,
            changes.removed if changes is not None else None,
            changes.added if changes is not None else None,
        )
    except asyncpg.ForeignKeyViolationError:
        # A member deleted by a concurrent transaction after this statement's snapshot (tenant migration m0006).
        raise InvalidValue("cannot add members that are not Users or Groups of this tenant") from None
    return MembersPatched(row["version"], row["display_name"], row["seen"], row["missing"] or [])


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
