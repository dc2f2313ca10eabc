"""Creating, replacing and deleting Users and Groups (RFC 7644 §3.3, §3.5.1, §3.6): one transaction each.

The SCIM rules (`scim/`) decide, the store writes, and the write's activity event rides in the write's own
statement (`ctx.write_event`), so an answered write always has its event. PATCH is `patching`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from scimhub.audit.vocabulary import operation
from scimhub.events import changes
from scimhub.provisioning.context import Outcome, ScimContext
from scimhub.provisioning.extensions import record_seen, unseen_attributes
from scimhub.provisioning.representation import not_found, parse_id, render_resource, target_name, wants_related
from scimhub.scim.etag import check_if_match, etag
from scimhub.scim.patch import MemberDelta, changed_attributes, members_to_delta
from scimhub.scim.projection import Projection
from scimhub.scim.resources import canonical_resource
from scimhub.scim.schemas import ResourceType
from scimhub.store import resources as store
from scimhub.tenancy.transaction import tenant_statement, tenant_transaction


def _members_of(rtype: ResourceType, body: Any, doc: dict[str, Any]) -> MemberDelta | None:
    """A group body's `members` (kept as rows, not in the document): None when the body does not name them."""
    members = doc.pop("members", None) if rtype.name == "Group" else None
    if rtype.name != "Group" or not isinstance(body, dict) or not any(k.lower() == "members" for k in body):
        return None
    delta = MemberDelta()
    delta.do_clear()
    for mid, mtype in members_to_delta(members or []):
        delta.do_add(mid, mtype)
    return delta


async def create(ctx: ScimContext, rtype: ResourceType, body: Any, proj: Projection) -> Outcome:
    """POST (RFC 7644 §3.3): 201 with the resource; 409 `uniqueness` for a taken userName / displayName."""
    rewrites: list[str] = []
    doc = canonical_resource(rtype, body, rewrites)
    delta = _members_of(rtype, body, doc)
    rid = uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    outcome = Outcome(
        201,
        operation=operation("Create", rtype.name),
        resource_type=rtype.name,
        resource_id=str(rid),
        target=target_name(rtype, doc),
        rewrites=rewrites,
        changed=sorted(doc),
    )
    members_added = (delta.add if delta is not None else None) or {}
    event_changes = ctx.changes(changes.created(rtype.name, rid, doc, members_added), now)
    if members_added or unseen_attributes(ctx.schemas, ctx.tenant, rtype, doc):
        async with tenant_transaction(ctx.pool, ctx.tenant) as conn:
            await record_seen(conn, ctx.schemas, ctx.tenant, rtype, doc)
            # The group's members are added after its row; their event is in the insert's statement, since
            # add_members adds every one or fails the transaction.
            row = await store.insert(conn, rtype, rid, doc, now, outbox=ctx.write_event(outcome), changes=event_changes)
            if members_added:
                await store.add_members(conn, rid, members_added)
    else:  # the insert, its activity event and its change event are one statement: atomic on their own
        async with tenant_statement(ctx.pool, ctx.tenant) as conn:
            row = await store.insert(conn, rtype, rid, doc, now, outbox=ctx.write_event(outcome), changes=event_changes)
    members = (delta or MemberDelta()).added_items() if rtype.name == "Group" else None
    ctx.keep_snapshot(rtype.name, row)
    outcome.body = render_resource(ctx, rtype, row, proj, members)
    outcome.etag = etag(row.version)
    outcome.location = ctx.location(rtype.name, str(rid))
    return outcome


async def replace(
    ctx: ScimContext, rtype: ResourceType, raw_id: str, body: Any, proj: Projection, if_match: str | None = None
) -> Outcome:
    """PUT (RFC 7644 §3.5.1): every writable attribute is replaced; read-only ones are ignored. A group's
    members are replaced only when the body names `members`."""
    rid = parse_id(raw_id, rtype)
    rewrites: list[str] = []
    doc = canonical_resource(rtype, body, rewrites)
    delta = _members_of(rtype, body, doc)
    outcome = Outcome(
        200,
        operation=operation("Replace", rtype.name),
        resource_type=rtype.name,
        resource_id=str(rid),
        target=target_name(rtype, doc),
        rewrites=rewrites,
    )
    now = dt.datetime.now(dt.UTC)
    async with tenant_transaction(ctx.pool, ctx.tenant) as conn:
        row = await store.get(conn, rtype, rid, related=rtype.name == "User", for_update=True)
        if row is None:
            raise not_found(rtype, rid)
        check_if_match(if_match, row.version, rtype.name)
        outcome.changed = changed_attributes(row.doc, doc)
        await record_seen(conn, ctx.schemas, ctx.tenant, rtype, doc)
        done = store.MemberChanges()
        if delta is not None:
            done = await store.apply_member_changes(conn, rid, delta)
            outcome.changed.append("members")
        events = changes.updated(rtype.name, rid, row.doc, doc, outcome.changed, done.added, done.removed)
        version = await store.update(
            conn, rtype, rid, doc, now, outbox=ctx.write_event(outcome), changes=ctx.changes(events, now)
        )
        members: list[dict[str, Any]] | None = None
        if delta is not None:
            members = delta.added_items()
        elif rtype.name == "Group" and wants_related(rtype, proj):
            members = await store.member_rows(conn, rid)
    new_row = store.Row(rid, doc, row.created, now, version, row.related)
    outcome.body = render_resource(ctx, rtype, new_row, proj, members)
    outcome.etag = etag(version)
    return outcome


async def delete(ctx: ScimContext, rtype: ResourceType, raw_id: str, if_match: str | None = None) -> Outcome:
    """DELETE (RFC 7644 §3.6): 204, or 404; a deleted resource leaves every group it was in."""
    rid = parse_id(raw_id, rtype)
    outcome = Outcome(204, operation=operation("Delete", rtype.name), resource_type=rtype.name, resource_id=str(rid))
    async with tenant_transaction(ctx.pool, ctx.tenant) as conn:
        if if_match is not None:
            row = await store.get(conn, rtype, rid, related=False, for_update=True)
            if row is None:
                raise not_found(rtype, rid)
            check_if_match(if_match, row.version, rtype.name)
        now = dt.datetime.now(dt.UTC)
        target = await store.delete(
            conn,
            rtype,
            rid,
            now,
            outbox=ctx.write_event(outcome),
            changes=ctx.changes(changes.deleted(rtype.name, rid), now),
        )
        if target is None:
            raise not_found(rtype, rid)
        outcome.target = target
    return outcome
