"""PATCH of Users and Groups (RFC 7644 §3.5.2) in any supported dialect: applies completely or not at all.

`scim.quirks` reads the dialect (catalogue: `scim.dialect`), `scim.patch` applies the operations to a copy of
the document, and a group's member changes become a few statements whatever the group's size.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from scimhub.audit.outbox import add_event_text
from scimhub.audit.sanitise import LIMITS
from scimhub.audit.vocabulary import Operation
from scimhub.events import changes
from scimhub.provisioning.context import Outcome, ScimContext
from scimhub.provisioning.extensions import record_seen
from scimhub.provisioning.representation import not_found, parse_id, render_resource, target_name, wants_related
from scimhub.scim.errors import ScimError
from scimhub.scim.etag import check_if_match, etag, if_match_tags
from scimhub.scim.patch import MemberDelta, apply_patch, member_only_delta
from scimhub.scim.projection import Projection
from scimhub.scim.quirks import PatchOp, normalise_patch
from scimhub.scim.schemas import ResourceType
from scimhub.store import resources as store
from scimhub.tenancy.db import Connection
from scimhub.tenancy.transaction import tenant_statement, tenant_transaction


def _operation(
    rtype: ResourceType, before: dict[str, Any], after: dict[str, Any], delta: MemberDelta | None, changed: list[str]
) -> Operation:
    """What the PATCH did, in the activity log's words: disabling a user reads "Disable user"."""
    if rtype.name == "User":
        if before.get("active") is not False and after.get("active") is False:
            return Operation.DISABLE_USER
        if before.get("active") is False and after.get("active") is True:
            return Operation.ENABLE_USER
        return Operation.UPDATE_USER
    if delta is not None and changed == ["members"]:
        if delta.add and not delta.removes:
            return Operation.ADD_MEMBERS
        if not delta.add:
            return Operation.REMOVE_MEMBERS
        return Operation.UPDATE_MEMBERS
    if "displayName" in changed and len([c for c in changed if c != "members"]) == 1:
        return Operation.RENAME_GROUP
    return Operation.UPDATE_GROUP


async def patch(
    ctx: ScimContext, rtype: ResourceType, raw_id: str, body: Any, proj: Projection, if_match: str | None = None
) -> Outcome:
    """204, or 200 with the user when the client asked for it (`ctx.patch_returns_resource`); a PATCH that
    changes nothing is still recorded."""
    rid = parse_id(raw_id, rtype)
    ops, rewrites = normalise_patch(rtype, body, max_operations=ctx.limits.max_patch_operations)
    wants_body = rtype.name == "User" and ctx.patch_returns_resource
    related = wants_body and wants_related(rtype, proj)
    now = dt.datetime.now(dt.UTC)
    done: tuple[store.Row, dict[str, Any], list[str], Outcome, int] | None = None
    if rtype.name == "Group":
        # Entra's member adds and removals: one statement. Anything else, or a request whose operations are
        # refused (answered after the group's 404 as before), takes the locking way below.
        noted = list(rewrites)
        try:
            delta = member_only_delta(rtype, ops, noted)
        except ScimError:
            delta = None
        if delta is not None and not delta.empty:
            outcome = await _patch_members(ctx, rtype, rid, delta, noted, if_match, now)
            if outcome is not None:
                return outcome
    if rtype.name == "User":
        # A user has no member rows: read, then one conditional UPDATE (the event in the same statement),
        # each a statement of its own; a concurrent write in between makes the UPDATE write nothing and the
        # PATCH starts again from a fresh read (If-Match is checked against what the UPDATE replaces, as
        # under a row lock). Two round trips instead of four; after _OPTIMISTIC_TRIES the locking way. The
        # user this process read or wrote last saves the read (`provisioning.snapshots`): one round trip.
        snapshot = ctx.take_snapshot(rid) if not related and if_match is None else None
        if snapshot is not None:
            try:  # a block of its own: behind PgBouncer a refused UPDATE (409) ends its transaction
                async with tenant_statement(ctx.pool, ctx.tenant) as conn:
                    done = await _apply(
                        ctx, conn, rtype, snapshot, ops, rewrites, None, now, expected=snapshot.version, snapshot=True
                    )
            except (store.StaleVersion, ScimError):  # an old document decides nothing: read it now
                done = None
            if done is not None and ctx.snapshots is not None:
                ctx.snapshots.used += 1
        for _ in range(_OPTIMISTIC_TRIES if done is None else 0):
            async with tenant_statement(ctx.pool, ctx.tenant) as conn:
                row = await store.get(conn, rtype, rid, related=related)
                if row is None:
                    raise not_found(rtype, rid)
                try:
                    done = await _apply(ctx, conn, rtype, row, ops, rewrites, if_match, now, expected=row.version)
                except store.StaleVersion:
                    continue
            break
    if done is None:
        async with tenant_transaction(ctx.pool, ctx.tenant) as conn:
            row = await store.get(conn, rtype, rid, related=related, for_update=True)
            if row is None:
                raise not_found(rtype, rid)
            done = await _apply(ctx, conn, rtype, row, ops, rewrites, if_match, now, expected=None)
    row, new_doc, changed, outcome, version = done
    outcome.etag = etag(version)
    ctx.keep_snapshot(rtype.name, store.Row(rid, new_doc, row.created, now if changed else row.last_modified, version))
    if wants_body:
        outcome.status = 200
        outcome.body = render_resource(
            ctx,
            rtype,
            store.Row(rid, new_doc, row.created, now if changed else row.last_modified, version, row.related),
            proj,
        )
    return outcome


_OPTIMISTIC_TRIES = 5


async def _patch_members(
    ctx: ScimContext,
    rtype: ResourceType,
    rid: uuid.UUID,
    delta: MemberDelta,
    rewrites: list[str],
    if_match: str | None,
    now: dt.datetime,
) -> Outcome | None:
    """A group PATCH that only adds members and removes listed ones (what Entra sends in a cycle): one
    statement (`store.patch_members`: members, version, activity event and change events), no read of the
    group first and no explicit transaction on a sticky pool. The group's document does not change, so the
    answer is what `_apply` would give: `changed` ["members"], the version one up, the same errors in the same
    order (404, 412, unknown members 400). A concurrent change of the group after the statement's snapshot
    makes it write nothing; it runs again, and after `_OPTIMISTIC_TRIES` the locking way does it (None)."""
    outcome = Outcome(
        204,
        operation=_operation(rtype, {}, {}, delta, ["members"]),
        resource_type=rtype.name,
        resource_id=str(rid),
        changed=["members"],
        rewrites=rewrites,
    )
    add, remove = list(delta.add), list(delta.remove)
    tags = if_match_tags(if_match)
    for _ in range(_OPTIMISTIC_TRIES):
        event = ctx.write_event(outcome)
        pending, removed, added = changes.member_templates(rid, now, ctx.request_id)
        async with tenant_statement(ctx.pool, ctx.tenant) as conn:
            done = await store.patch_members(
                conn,
                rid,
                now,
                add=add,
                remove=remove,
                if_match=tags,
                outbox=event,
                target_limit=LIMITS["target"],
                changes=store.MemberEvents(pending, removed, added),
            )
        if done.version is not None:
            outcome.target = done.display_name
            outcome.etag = etag(done.version)
            return outcome
        if done.seen is None:
            raise not_found(rtype, rid)
        check_if_match(if_match, done.seen, rtype.name)
        if done.missing:
            raise store.missing_members(done.missing)
    return None


async def _apply(
    ctx: ScimContext,
    conn: Connection,
    rtype: ResourceType,
    row: store.Row,
    ops: list[PatchOp],
    rewrites: list[str],
    if_match: str | None,
    now: dt.datetime,
    *,
    expected: int | None,
    snapshot: bool = False,
) -> tuple[store.Row, dict[str, Any], list[str], Outcome, int]:
    """The PATCH on the row read (locked, or to be written only if still at version `expected`). On a
    `snapshot` (not read by this request) a PATCH that changes nothing is `StaleVersion`: with no UPDATE to
    check the version, only a read can tell whether the stored user still is that document."""
    check_if_match(if_match, row.version, rtype.name)
    new_doc, changed, delta = apply_patch(rtype, row.doc, ops, rewrites)
    if snapshot and not changed:
        raise store.StaleVersion(f"{rtype.name} {row.id}: a PATCH that changes nothing is checked on a fresh read")
    outcome = Outcome(
        204,
        operation=_operation(rtype, row.doc, new_doc, delta, changed),
        resource_type=rtype.name,
        resource_id=str(row.id),
        target=target_name(rtype, new_doc),
        changed=changed,
        rewrites=rewrites,
    )
    version = row.version
    if changed:
        await record_seen(conn, ctx.schemas, ctx.tenant, rtype, new_doc)
    members_changed = delta is not None and not delta.empty
    done = store.MemberChanges()
    if delta is not None and members_changed:
        done = await store.apply_member_changes(conn, row.id, delta)
    event = ctx.write_event(outcome)
    events = ctx.changes(changes.updated(rtype.name, row.id, row.doc, new_doc, changed, done.added, done.removed), now)
    if any(c != "members" for c in changed):
        version = await store.update(
            conn, rtype, row.id, new_doc, now, outbox=event, changes=events, expected_version=expected
        )
    elif members_changed:
        version = await store.touch_group(conn, row.id, now, outbox=event, changes=events)
    elif event is not None:
        await add_event_text(conn, event)
    return row, new_doc, changed, outcome, version
