"""Admin API routes for the tenant's custom attributes (issue #12): list, declare or change, remove (values
kept, or deleted when asked), the mode. Changes go through `admins.attributes`, so each is in the admin trail,
and this process's cached registry is forgotten at once (others within the cache's TTL)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import delete, get, post, put
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody, QueryParameter

from scimhub.admins import Actor, attributes
from scimhub.http.services import Services
from scimhub.tenancy.db import Connection
from scimhub.tenancy.model import Tenant


class AttributeDeclaration(msgspec.Struct, kw_only=True):
    urn: str
    name: str
    type: str
    resource_type: str = "User"
    case_exact: bool = False
    unique: bool = False
    required: bool = False
    multi_valued: bool = False
    description: str = ""


class ModeUpdate(msgspec.Struct):
    mode: str


@get(
    "/schema",
    summary="Custom attributes: the mode, the declared ones, those seen but not declared",
    opt={"scope": "schema:read"},
)
async def api_schema(tenant: NamedDependency[Tenant], services: NamedDependency[Services]) -> attributes.SchemaView:
    return await attributes.view(services.db.pool, tenant)


@post(
    "/schema/attributes",
    summary="Declare or change a custom attribute (existing values checked and converted; its index made)",
    status_code=200,
    opt={"scope": "schema:write"},
)
async def api_schema_declare(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    actor: NamedDependency[Actor],
    data: JSONBody[AttributeDeclaration],
) -> attributes.SchemaChange:
    d = attributes.declaration(
        data.resource_type,
        data.urn,
        data.name,
        data.type,
        case_exact=data.case_exact,
        unique=data.unique,
        required=data.required,
        multi_valued=data.multi_valued,
        description=data.description,
    )
    done = await attributes.change_schema(services.db.pool, tenant, actor, lambda c: attributes.declare(c, d))
    services.schemas.forget(tenant.id)
    return done


@delete(
    "/schema/attributes",
    summary="Remove a custom attribute (values kept); with delete_values=true, delete its stored values",
    status_code=200,
    opt={"scope": "schema:write"},
)
async def api_schema_remove(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    actor: NamedDependency[Actor],
    urn: Annotated[str, QueryParameter(max_length=256)],
    name: Annotated[str, QueryParameter(max_length=256)],
    resource_type: Annotated[str, QueryParameter(pattern="^(User|Group)$")] = "User",
    delete_values: Annotated[bool, QueryParameter()] = False,
) -> attributes.SchemaChange:
    async def change(conn: Connection) -> attributes.SchemaChange:
        if delete_values:
            return await attributes.delete_values(conn, resource_type, urn, name)
        return await attributes.remove(conn, resource_type, urn, name)

    done = await attributes.change_schema(services.db.pool, tenant, actor, change)
    services.schemas.forget(tenant.id)
    return done


@put(
    "/schema/mode",
    summary="lenient: keep undeclared extension attributes; strict: refuse them",
    opt={"scope": "schema:write"},
)
async def api_schema_mode(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    actor: NamedDependency[Actor],
    data: JSONBody[ModeUpdate],
) -> attributes.SchemaChange:
    done = await attributes.change_schema(services.db.pool, tenant, actor, lambda c: attributes.set_mode(c, data.mode))
    services.schemas.forget(tenant.id)
    return done


ROUTES: list[HTTPRouteHandler] = [api_schema, api_schema_declare, api_schema_remove, api_schema_mode]
