"""A write's change events, as the JSON its own statement adds to `event_pending` (`store.resources`).

Pure: built from what the use case knows (the new document, the changed names, the memberships the member
statements really added or removed). The sequencer gives each event its id and position later.
What an event carries (`data`):
- `user.*` but deleted, `group.created`, `group.updated`: `resource` (the new SCIM resource without its
  members: id, schemas and every attribute stored) and `changed` (the attribute names that changed);
- `group.member_added` / `group.member_removed`: `members` (`[{"value": id, "type": "User"|"Group"}]`),
  one event per request with every member it added or removed (not one per member);
- `user.deleted`, `group.deleted`: nothing beyond the resource id (a deleted resource leaves its groups with
  it: no `group.member_removed` is sent for those memberships).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from scimhub.events.vocabulary import EventType

_encode = msgspec.json.Encoder().encode


class Change(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    resource_type: str
    resource_id: str
    data: dict[str, Any] = {}


class PendingChanges(msgspec.Struct, frozen=True, kw_only=True):
    """One row of `event_pending`: the changes of one request, in the order they are positioned."""

    occurred_at: str
    request_id: str | None
    events: list[Change]


def encode(changes: list[Change], now: dt.datetime, request_id: str | None) -> str | None:
    """The pending row's JSON text, or None when the request changed nothing."""
    if not changes:
        return None
    return _encode(PendingChanges(occurred_at=now.isoformat(), request_id=request_id, events=changes)).decode()


def member_templates(gid: uuid.UUID, now: dt.datetime, request_id: str | None) -> tuple[str, str, str]:
    """A member PATCH's change events for a statement to complete (`store.resources.patch_members`): the
    pending row without its `events`, then `group.member_removed` and `group.member_added` without their
    `data`; the statement adds `{"members": [...]}` (sorted by id, as `_members`) for what it really did."""
    pending = PendingChanges(occurred_at=now.isoformat(), request_id=request_id, events=[])
    removed = Change(type=EventType.GROUP_MEMBER_REMOVED, resource_type="Group", resource_id=str(gid))
    added = Change(type=EventType.GROUP_MEMBER_ADDED, resource_type="Group", resource_id=str(gid))
    return _encode(pending).decode(), _encode(removed).decode(), _encode(added).decode()


def _resource(rid: uuid.UUID, doc: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(rid), **{k: v for k, v in doc.items() if k != "members"}}


def user_event_type(before: dict[str, Any] | None, after: dict[str, Any]) -> EventType:
    if before is None:
        return EventType.USER_CREATED
    if before.get("active") is not False and after.get("active") is False:
        return EventType.USER_DEACTIVATED
    if before.get("active") is False and after.get("active") is not False:
        return EventType.USER_REACTIVATED
    return EventType.USER_UPDATED


def created(
    rtype: str, rid: uuid.UUID, doc: dict[str, Any], members: dict[uuid.UUID, str] | None = None
) -> list[Change]:
    if rtype == "User":
        return [
            Change(
                type=EventType.USER_CREATED,
                resource_type=rtype,
                resource_id=str(rid),
                data={"resource": _resource(rid, doc), "changed": sorted(doc)},
            )
        ]
    out = [
        Change(
            type=EventType.GROUP_CREATED,
            resource_type=rtype,
            resource_id=str(rid),
            data={"resource": _resource(rid, doc), "changed": sorted(k for k in doc if k != "members")},
        )
    ]
    return out + _member_events(rid, members or {}, {})


def updated(
    rtype: str,
    rid: uuid.UUID,
    before: dict[str, Any],
    after: dict[str, Any],
    changed: list[str],
    added: dict[uuid.UUID, str] | None = None,
    removed: dict[uuid.UUID, str] | None = None,
) -> list[Change]:
    """A PUT's or PATCH's events: one for the attributes (if any changed), then the member events."""
    names = sorted({c for c in changed if c != "members"})
    out: list[Change] = []
    if names:
        kind = user_event_type(before, after) if rtype == "User" else EventType.GROUP_UPDATED
        out.append(
            Change(
                type=kind,
                resource_type=rtype,
                resource_id=str(rid),
                data={"resource": _resource(rid, after), "changed": names},
            )
        )
    if rtype == "Group":
        out += _member_events(rid, added or {}, removed or {})
    return out


def deleted(rtype: str, rid: uuid.UUID) -> list[Change]:
    kind = EventType.USER_DELETED if rtype == "User" else EventType.GROUP_DELETED
    return [Change(type=kind, resource_type=rtype, resource_id=str(rid))]


def _members(items: dict[uuid.UUID, str]) -> list[dict[str, str]]:
    return [{"value": str(mid), "type": kind} for mid, kind in sorted(items.items(), key=lambda kv: str(kv[0]))]


def _member_events(gid: uuid.UUID, added: dict[uuid.UUID, str], removed: dict[uuid.UUID, str]) -> list[Change]:
    out: list[Change] = []
    if removed:
        out.append(
            Change(
                type=EventType.GROUP_MEMBER_REMOVED,
                resource_type="Group",
                resource_id=str(gid),
                data={"members": _members(removed)},
            )
        )
    if added:
        out.append(
            Change(
                type=EventType.GROUP_MEMBER_ADDED,
                resource_type="Group",
                resource_id=str(gid),
                data={"members": _members(added)},
            )
        )
    return out
