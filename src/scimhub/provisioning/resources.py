"""Use cases for Users and Groups: each is one `tenant_transaction`.

The SCIM rules (`scim/`) decide, the store reads and writes, and a write's activity event is recorded in the
same transaction through `ctx.audit`, so an answered write always has its event.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg

from scimhub.audit.outbox import add_event_text
from scimhub.provisioning.context import Outcome, ScimContext
from scimhub.scim.errors import InvalidFilter, InvalidPath, InvalidValue, NotFound, PreconditionFailed
from scimhub.scim.filters import Node, matches, parse_bound, split_attr_path
from scimhub.scim.patch import MemberDelta, apply_patch, changed_attributes, members_to_delta
from scimhub.scim.projection import Projection, apply_projection, parse_projection
from scimhub.scim.quirks import normalise_patch
from scimhub.scim.resources import canonical_resource, etag, render
from scimhub.scim.schemas import GROUP_TYPE, USER_TYPE, ResolvedAttr, ResourceType, resolve
from scimhub.store import resources as store
from scimhub.tenancy.transaction import tenant_transaction

LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_id(raw: str, rtype: ResourceType) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"{rtype.name} {raw[:80]!r} not found") from None


def _not_found(rtype: ResourceType, rid: uuid.UUID | str) -> NotFound:
    return NotFound(f"{rtype.name} {str(rid)!r} not found")


def _target(rtype: ResourceType, doc: dict[str, Any]) -> str | None:
    value = doc.get("userName" if rtype is USER_TYPE else "displayName")
    return value if isinstance(value, str) else None


def _render(
    ctx: ScimContext, rtype: ResourceType, row: store.Row, proj: Projection, members: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    rid = str(row.id)
    extra: dict[str, Any] = {}
    related = members if members is not None else row.related
    if related:
        key = "groups" if rtype is USER_TYPE else "members"
        items = []
        for item in related:
            ref_type = "Group" if rtype is USER_TYPE else item.get("type", "User")
            items.append({**item, "$ref": ctx.location(ref_type, item["value"])})
        extra[key] = items
    elif rtype is GROUP_TYPE and members is not None:
        extra["members"] = []
    body = render(
        rtype,
        id=rid,
        doc=row.doc,
        created=row.created,
        last_modified=row.last_modified,
        version=row.version,
        location=ctx.location(rtype.name, rid),
        extra=extra,
    )
    return apply_projection(body, rtype, proj)


def _check_if_match(if_match: str | None, version: int, rtype: ResourceType) -> None:
    """RFC 7644 §3.14 / RFC 7232 §3.1: a weak comparison of the listed tags with the current one."""
    if if_match is None:
        return
    tags = [t.strip() for t in if_match.split(",")]
    if "*" in tags:
        return
    current = etag(version)
    if not any(t == current or t.removeprefix("W/") == current.removeprefix("W/") for t in tags):
        raise PreconditionFailed(
            f"the {rtype.name} changed since the version you sent ({if_match}); it is now {current}. "
            "Read it again and retry."
        )


def _wants_related(rtype: ResourceType, proj: Projection) -> bool:
    return proj.returns(rtype, "groups" if rtype is USER_TYPE else "members")


def _event(ctx: ScimContext, outcome: Outcome) -> str | None:
    """The write's activity event, to be written by the write's own statement (see store `outbox`)."""
    return ctx.audit(outcome) if ctx.audit is not None else None


# ---------------------------------------------------------------------------------------------- create


async def create(ctx: ScimContext, rtype: ResourceType, body: Any, proj: Projection) -> Outcome:
    rewrites: list[str] = []
    doc = canonical_resource(rtype, body, rewrites)
    members = doc.pop("members", None) if rtype is GROUP_TYPE else None
    delta = MemberDelta()
    if members:
        for mid, mtype in members_to_delta(members):
            delta.do_add(mid, mtype)
    rid = uuid.uuid4()
    now = _now()
    outcome = Outcome(
        201,
        operation=f"Create {rtype.name.lower()}",
        resource_type=rtype.name,
        resource_id=str(rid),
        target=_target(rtype, doc),
        rewrites=rewrites,
        changed=sorted(doc),
    )
    async with tenant_transaction(ctx.pool, ctx.tenant) as conn:
        row = await store.insert(conn, rtype, rid, doc, now, outbox=_event(ctx, outcome))
        if delta.add:
            await store.add_members(conn, rid, delta.add)
    member_list = [{"value": str(m), "type": t} for m, t in delta.add.items()] if rtype is GROUP_TYPE else None
    outcome.body = _render(ctx, rtype, row, proj, member_list)
    outcome.etag = etag(row.version)
    outcome.location = ctx.location(rtype.name, str(rid))
    return outcome


# ------------------------------------------------------------------------------------------------- get


async def get(
    ctx: ScimContext, rtype: ResourceType, raw_id: str, proj: Projection, if_none_match: str | None = None
) -> Outcome:
    rid = parse_id(raw_id, rtype)
    outcome = Outcome(200, operation=f"Get {rtype.name.lower()}", resource_type=rtype.name, resource_id=str(rid))
    async with tenant_transaction(ctx.pool, ctx.tenant) as conn:
        row = await store.get(conn, rtype, rid, related=_wants_related(rtype, proj))
    if row is None:
        raise _not_found(rtype, rid)
    outcome.target = _target(rtype, row.doc)
    outcome.etag = etag(row.version)
    if if_none_match is not None and any(
        t.strip().removeprefix("W/") == outcome.etag.removeprefix("W/") or t.strip() == "*"
        for t in if_none_match.split(",")
    ):
        outcome.status = 304
        return outcome
    outcome.body = _render(ctx, rtype, row, proj)
    return outcome


# ------------------------------------------------------------------------------------------------ list


def parse_sort(rtype: ResourceType, sort_by: str | None) -> ResolvedAttr | None:
    if not sort_by:
        return None
    try:
        path = split_attr_path(sort_by.strip())
    except InvalidPath:
        raise InvalidValue(f"sortBy {sort_by[:80]!r} is not an attribute name") from None
    res = resolve(rtype, path.urn, path.name, path.sub)
    if res is None:
        raise InvalidValue(f"sortBy names an unknown attribute {sort_by[:80]!r}")
    return res


def _int_param(name: str, raw: Any, default: int) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise InvalidValue(f"{name} must be a whole number")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise InvalidValue(f"{name} must be a whole number, got {str(raw)[:40]!r}") from None


async def search(
    ctx: ScimContext,
    rtype: ResourceType,
    *,
    filter_text: str | None,
    start_index: Any,
    count: Any,
    sort_by: str | None,
    sort_order: str | None,
    proj: Projection,
) -> Outcome:
    """RFC 7644 §3.4.2: filter, sort, page; always a ListResponse, even with no hits."""
    node: Node | None = None
    if filter_text is not None:
        if not isinstance(filter_text, str):
            raise InvalidFilter("filter must be a string")
        node = parse_bound(filter_text, rtype, max_length=ctx.limits.max_filter_length)
    start = max(1, _int_param("startIndex", start_index, 1))
    size = min(max(0, _int_param("count", count, ctx.limits.default_page_size)), ctx.limits.max_page_size)
    sort = parse_sort(rtype, sort_by)
    if sort_order is not None and str(sort_order).lower() not in {"ascending", "descending"}:
        raise InvalidValue("sortOrder must be 'ascending' or 'descending'")
    descending = str(sort_order).lower() == "descending" if sort_order else False
    async with tenant_transaction(ctx.pool, ctx.tenant) as conn:
        total, rows = await store.list_page(
            conn,
            rtype,
            node,
            sort_by=sort,
            descending=descending,
            offset=start - 1,
            limit=size,
            related=_wants_related(rtype, proj),
        )
    resources = [_render(ctx, rtype, r, proj) for r in rows]
    body = {
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "Resources": resources,
        "startIndex": start,
        "itemsPerPage": len(resources),
    }
    target = None
    if len(rows) == 1:
        target = _target(rtype, rows[0].doc)
    return Outcome(
        200,
        body=body,
        operation="Lookup" if node is not None else f"List {rtype.name.lower()}s",
        resource_type=rtype.name,
        target=target,
        results=total,
        resource_id=str(rows[0].id) if len(rows) == 1 else None,
    )


async def search_all(
    ctx: ScimContext,
    *,
    filter_text: str | None,
    start_index: Any,
    count: Any,
    sort_by: str | None,
    sort_order: str | None,
    attributes: Any,
    excluded: Any,
) -> Outcome:
    """Root `.search` (RFC 7644 §3.4.3): Users, then Groups, paged as one list. A filter naming an attribute
    that one type lacks matches nothing of that type; it is an error only when no type knows it."""
    start = max(1, _int_param("startIndex", start_index, 1))
    size = min(max(0, _int_param("count", count, ctx.limits.default_page_size)), ctx.limits.max_page_size)
    plans: list[tuple[ResourceType, Node | None]] = []
    first_error: InvalidFilter | None = None
    for rtype in (USER_TYPE, GROUP_TYPE):
        try:
            node = parse_bound(filter_text, rtype, max_length=ctx.limits.max_filter_length) if filter_text else None
        except InvalidFilter as exc:
            first_error = first_error or exc
            continue
        plans.append((rtype, node))
    if not plans and first_error is not None:
        raise first_error
    descending = str(sort_order).lower() == "descending" if sort_order else False
    resources: list[dict[str, Any]] = []
    total = 0
    offset = start - 1
    async with tenant_transaction(ctx.pool, ctx.tenant) as conn:
        for rtype, node in plans:
            proj = parse_projection(rtype, attributes, excluded)
            try:
                sort = parse_sort(rtype, sort_by)
            except InvalidValue:
                sort = None
            n, _ = await store.list_page(
                conn, rtype, node, sort_by=None, descending=False, offset=0, limit=0, related=False
            )
            want = size - len(resources)
            if want > 0 and offset < n:
                _, rows = await store.list_page(
                    conn,
                    rtype,
                    node,
                    sort_by=sort,
                    descending=descending,
                    offset=offset,
                    limit=want,
                    related=_wants_related(rtype, proj),
                )
                resources.extend(_render(ctx, rtype, r, proj) for r in rows)
            offset = max(0, offset - n)
            total += n
    body = {
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "Resources": resources,
        "startIndex": start,
        "itemsPerPage": len(resources),
    }
    return Outcome(200, body=body, operation="Lookup", results=total)


# --------------------------------------------------------------------------------------------- replace


async def replace(
    ctx: ScimContext, rtype: ResourceType, raw_id: str, body: Any, proj: Projection, if_match: str | None = None
) -> Outcome:
    """PUT (RFC 7644 §3.5.1): every writable attribute is replaced; read-only ones are ignored."""
    rid = parse_id(raw_id, rtype)
    rewrites: list[str] = []
    doc = canonical_resource(rtype, body, rewrites)
    members = doc.pop("members", None) if rtype is GROUP_TYPE else None
    replace_members = rtype is GROUP_TYPE and isinstance(body, dict) and any(k.lower() == "members" for k in body)
    delta = MemberDelta()
    if replace_members:
        delta.do_clear()
        for mid, mtype in members_to_delta(members or []):
            delta.do_add(mid, mtype)
    outcome = Outcome(
        200,
        operation=f"Replace {rtype.name.lower()}",
        resource_type=rtype.name,
        resource_id=str(rid),
        target=_target(rtype, doc),
        rewrites=rewrites,
    )
    now = _now()
    async with tenant_transaction(ctx.pool, ctx.tenant) as conn:
        row = await store.get(conn, rtype, rid, related=rtype is USER_TYPE, for_update=True)
        if row is None:
            raise _not_found(rtype, rid)
        _check_if_match(if_match, row.version, rtype)
        outcome.changed = changed_attributes(row.doc, doc)
        if replace_members:
            await store.clear_members(conn, rid)
            await store.add_members(conn, rid, delta.add)
            outcome.changed.append("members")
        version = await store.update(conn, rtype, rid, doc, now, outbox=_event(ctx, outcome))
        member_list: list[dict[str, Any]] | None
        if rtype is GROUP_TYPE and not replace_members and _wants_related(rtype, proj):
            member_list = await store.member_rows(conn, rid)
        else:
            member_list = [{"value": str(m), "type": t} for m, t in delta.add.items()] if rtype is GROUP_TYPE else None
    new_row = store.Row(rid, doc, row.created, now, version, row.related)
    outcome.body = _render(ctx, rtype, new_row, proj, member_list)
    outcome.etag = etag(version)
    return outcome


# ----------------------------------------------------------------------------------------------- patch


def _operation_name(
    rtype: ResourceType, before: dict[str, Any], after: dict[str, Any], delta: MemberDelta | None, changed: list[str]
) -> str:
    if rtype is USER_TYPE:
        if before.get("active") is not False and after.get("active") is False:
            return "Disable user"
        if before.get("active") is False and after.get("active") is True:
            return "Enable user"
        return "Update user"
    only_members = changed == ["members"]
    if delta is not None and only_members:
        if delta.add and not (delta.remove or delta.remove_all or delta.remove_where):
            return "Add members"
        if not delta.add:
            return "Remove members"
        return "Update members"
    if "displayName" in changed and len([c for c in changed if c != "members"]) == 1:
        return "Rename group"
    return "Update group"


async def patch(
    ctx: ScimContext, rtype: ResourceType, raw_id: str, body: Any, proj: Projection, if_match: str | None = None
) -> Outcome:
    """PATCH (RFC 7644 §3.5.2) in any supported dialect; applies completely or not at all."""
    rid = parse_id(raw_id, rtype)
    ops, rewrites = normalise_patch(rtype, body, max_operations=ctx.limits.max_patch_operations)
    outcome = Outcome(204, resource_type=rtype.name, resource_id=str(rid), rewrites=rewrites)
    wants_body = rtype is USER_TYPE and ctx.patch_returns_resource
    now = _now()
    async with tenant_transaction(ctx.pool, ctx.tenant) as conn:
        row = await store.get(conn, rtype, rid, related=wants_body and _wants_related(rtype, proj), for_update=True)
        if row is None:
            raise _not_found(rtype, rid)
        _check_if_match(if_match, row.version, rtype)
        new_doc, changed, delta = apply_patch(rtype, row.doc, ops, rewrites)
        outcome.changed = changed
        outcome.target = _target(rtype, new_doc)
        outcome.operation = _operation_name(rtype, row.doc, new_doc, delta, changed)
        version = row.version
        doc_changed = [c for c in changed if c != "members"]
        if delta is not None and not delta.empty:
            await _apply_delta(conn, rid, delta)
        event = _event(ctx, outcome)
        if doc_changed:
            version = await store.update(conn, rtype, rid, new_doc, now, outbox=event)
        elif delta is not None and not delta.empty:
            version = await store.touch_group(conn, rid, now, outbox=event)
        elif event is not None:
            await add_event_text(conn, event)  # a PATCH that changed nothing is still recorded
    outcome.etag = etag(version)
    if wants_body:
        outcome.status = 200
        outcome.body = _render(
            ctx,
            rtype,
            store.Row(rid, new_doc, row.created, now if changed else row.last_modified, version, row.related),
            proj,
        )
    return outcome


async def _apply_delta(conn: asyncpg.Connection, gid: uuid.UUID, delta: MemberDelta) -> None:
    if delta.remove_all:
        await store.clear_members(conn, gid)
    remove = set(delta.remove)
    if delta.remove_where:
        for member in await store.member_rows(conn, gid):
            if any(matches(member, f, relative=True) for f in delta.remove_where):
                remove.add(uuid.UUID(member["value"]))
    await store.remove_members(conn, gid, list(remove))
    await store.add_members(conn, gid, delta.add)


# ---------------------------------------------------------------------------------------------- delete


async def delete(ctx: ScimContext, rtype: ResourceType, raw_id: str, if_match: str | None = None) -> Outcome:
    rid = parse_id(raw_id, rtype)
    outcome = Outcome(204, operation=f"Delete {rtype.name.lower()}", resource_type=rtype.name, resource_id=str(rid))
    async with tenant_transaction(ctx.pool, ctx.tenant) as conn:
        if if_match is not None:
            row = await store.get(conn, rtype, rid, related=False, for_update=True)
            if row is None:
                raise _not_found(rtype, rid)
            _check_if_match(if_match, row.version, rtype)
        target = await store.delete(conn, rtype, rid, _now(), outbox=_event(ctx, outcome))
        if target is None:
            raise _not_found(rtype, rid)
        outcome.target = target
    return outcome
