"""Schema: the tenant's custom attributes (issue #12): declared ones (change, remove, delete values), those seen
but not declared (declare in one step), and the mode (lenient or strict). Changes go through
`admins.attributes` (admin trail); this process forgets its cached registry at once, others within the TTL."""

from __future__ import annotations

from typing import Any

from litestar import Response, get, post
from litestar.di import NamedDependency

from scimhub.admins import attributes
from scimhub.admins.model import AdminError
from scimhub.http.hub.session import HubPage
from scimhub.scim.extensions import TYPES
from scimhub.tenancy.db import Connection


async def _schema(page: HubPage, *, status: int = 200, **more: Any) -> Response[str]:
    shown = await attributes.view(page.services.db.pool, page.tenant)
    return page.render("schema.html", nav="schema", status=status, schema=shown, types=TYPES, **more)


async def _change(page: HubPage, change: Any, failed: str) -> Response[str]:
    try:
        done = await attributes.change_schema(page.services.db.pool, page.tenant, page.actor, change)
    except AdminError as exc:
        return await _schema(page, status=400, error=f"{failed}: {exc}")
    page.services.schemas.forget(page.tenant.id)
    converted = f" {done.converted} stored value(s) were converted." if done.converted else ""
    return await _schema(page, flash=f"Done: {done.summary}.{converted}")


@get("/{slug:str}/schema", include_in_schema=False)
async def schema_page(page: NamedDependency[HubPage]) -> Response[str]:
    return await _schema(page)


@post("/{slug:str}/schema/declare", include_in_schema=False)
async def schema_declare(page: NamedDependency[HubPage], form: NamedDependency[dict[str, str]]) -> Response[str]:
    try:
        d = attributes.declaration(
            form.get("resource_type", "User"),
            form.get("urn", ""),
            form.get("name", ""),
            form.get("type", "string"),
            case_exact=form.get("case_exact") == "on",
            unique=form.get("unique") == "on",
            required=form.get("required") == "on",
            multi_valued=form.get("multi_valued") == "on",
            description=form.get("description", ""),
        )
    except AdminError as exc:
        return await _schema(page, status=400, error=f"Not declared: {exc}")

    async def change(conn: Connection) -> attributes.SchemaChange:
        return await attributes.declare(conn, d)

    return await _change(page, change, "Not declared")


@post("/{slug:str}/schema/remove", include_in_schema=False)
async def schema_remove(page: NamedDependency[HubPage], form: NamedDependency[dict[str, str]]) -> Response[str]:
    rt, urn, name = form.get("resource_type", "User"), form.get("urn", ""), form.get("name", "")
    delete_values = form.get("delete_values") == "yes"
    if delete_values and form.get("confirm") != "yes":
        return await _schema(page, status=400, error="Tick the box to confirm; no value was deleted.")

    async def change(conn: Connection) -> attributes.SchemaChange:
        if delete_values:
            return await attributes.delete_values(conn, rt, urn, name)
        return await attributes.remove(conn, rt, urn, name)

    return await _change(page, change, "Not removed" if not delete_values else "Not deleted")


@post("/{slug:str}/schema/mode", include_in_schema=False)
async def schema_mode(page: NamedDependency[HubPage], form: NamedDependency[dict[str, str]]) -> Response[str]:
    mode = form.get("mode", "")

    async def change(conn: Connection) -> attributes.SchemaChange:
        return await attributes.set_mode(conn, mode)

    return await _change(page, change, "Not changed")
