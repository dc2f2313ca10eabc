"""The host application's reads of a tenant's directory (inside `tenant_transaction`): users and groups
paged by (last_modified, id), optionally only those changed since a time, and a group's members by id.
Keyset paging: a page never repeats or skips a row whose position in that order does not change."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from scimhub.tenancy.db import Connection

_TABLES = {"User": "scim_user", "Group": "scim_group"}
_PAGES = {
    name: f"""SELECT id, doc, created, last_modified, version FROM {table}
              WHERE ($1::timestamptz IS NULL OR last_modified >= $1)
                AND ($2::timestamptz IS NULL OR (last_modified, id) > ($2, $3::uuid))
              ORDER BY last_modified, id LIMIT $4"""  # noqa: S608 - the table name is a constant
    for name, table in _TABLES.items()
}
_ONE = {name: f"SELECT id, doc, created, last_modified, version FROM {t} WHERE id = $1" for name, t in _TABLES.items()}  # noqa: S608 - constants


def _resource(rtype: str, r: Any) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        **r["doc"],
        "meta": {
            "resourceType": rtype,
            "created": r["created"].isoformat(),
            "lastModified": r["last_modified"].isoformat(),
            "version": f'W/"{r["version"]}"',
        },
    }


async def resources_page(
    conn: Connection,
    rtype: str,
    *,
    changed_since: dt.datetime | None,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> tuple[list[dict[str, Any]], tuple[dt.datetime, uuid.UUID] | None]:
    """A page and the key of its last row (None: the last page)."""
    rows = await conn.fetch(
        _PAGES[rtype], changed_since, after[0] if after else None, after[1] if after else None, limit + 1
    )
    page = rows[:limit]
    last = (page[-1]["last_modified"], page[-1]["id"]) if len(rows) > limit else None
    return [_resource(rtype, r) for r in page], last


async def resource(conn: Connection, rtype: str, rid: uuid.UUID) -> dict[str, Any] | None:
    r = await conn.fetchrow(_ONE[rtype], rid)
    return _resource(rtype, r) if r is not None else None


async def members_page(
    conn: Connection, gid: uuid.UUID, *, after: uuid.UUID | None, limit: int
) -> tuple[list[dict[str, str]], uuid.UUID | None]:
    rows = await conn.fetch(
        """SELECT member_id, member_type FROM scim_group_member
           WHERE group_id = $1 AND ($2::uuid IS NULL OR member_id > $2) ORDER BY member_id LIMIT $3""",
        gid,
        after,
        limit + 1,
    )
    page = rows[:limit]
    last = page[-1]["member_id"] if len(rows) > limit else None
    return [{"value": str(r["member_id"]), "type": r["member_type"]} for r in page], last
