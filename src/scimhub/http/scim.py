"""SCIM endpoints: translate HTTP to one use case and back.

Resource path segments are matched case-insensitively (`/users` works, as the MS collection sends it), and
unknown query parameters are ignored (contract §1: Entra may put feature flags in the URL). The client
dialects are catalogued in `scim.dialect`. `HANDLERS` is the route table; `http.dispatch` routes to it (a plain
ASGI app mounted at `/scim/v2`, no Litestar Router) and hands each handler a `ScimRequest`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from litestar.handlers import ASGIRouteHandler

from scimhub.audit.vocabulary import Operation
from scimhub.http.activity import write_audit
from scimhub.http.dispatch import Handler, ScimRequest, options, scim_mount
from scimhub.http.services import Services
from scimhub.http.wire import ScimAnswer, decode_body
from scimhub.provisioning import listing, patching, reading, writing
from scimhub.provisioning.context import Outcome, ScimContext
from scimhub.scim import discovery
from scimhub.scim.errors import InvalidSyntax, NotFound, ScimError
from scimhub.scim.listing import SEARCH_REQUEST_SCHEMA, ListQuery, parse_list_query
from scimhub.scim.projection import Projection, parse_projection
from scimhub.scim.schemas import GROUP_TYPE, USER_TYPE, ResourceType
from scimhub.tenancy.tenants import scim_url

_TYPES = {"users": USER_TYPE, "groups": GROUP_TYPE}
_SERVICE_PROVIDER_CONFIG = {"serviceproviderconfig", "serviceconfiguration"}  # dialect.SERVICE_CONFIGURATION_ALIAS
_DISCOVERY = {*_SERVICE_PROVIDER_CONFIG, "schemas", "resourcetypes"}


def _services(request: ScimRequest) -> Services:
    return request.services


def _context(request: ScimRequest) -> ScimContext:
    services = _services(request)
    tenant = request.state["tenant"]
    prefer = request.headers.get("prefer", "")
    agent = request.headers.get("user-agent", "")
    query = request.query_params
    return ScimContext(
        pool=services.db.pool,
        tenant=tenant,
        base_url=scim_url(services.settings.public_url, tenant.slug),
        limits=services.limits,
        audit=functools.partial(write_audit, services, request.state["activity"], tenant)
        if services.settings.activity_log
        else None,
        # RFC 7644 §3.5.2 allows 204 or 200 + resource; Entra and the MS collection want 204, Okta and
        # clients that ask for attributes or a representation get the resource (dialect.PATCH_ANSWER).
        patch_returns_resource=(
            "return=representation" in prefer
            or "okta" in agent.lower()
            or "attributes" in query
            or "excludedAttributes" in query
        ),
        schemas=services.schemas,
        snapshots=services.snapshots,
        request_id=request.state.get("request_id"),
    )


async def _tenant_type(request: ScimRequest, segment: str) -> ResourceType:
    """The resource type named by the path, with the tenant's own custom extensions (issue #12)."""
    base = _resource_type(segment)
    services = _services(request)
    return await services.schemas.resource_type(services.db.pool, request.state["tenant"], base.name)


async def _tenant_types(request: ScimRequest) -> tuple[ResourceType, ...]:
    services = _services(request)
    registry = await services.schemas.registry(services.db.pool, request.state["tenant"])
    return registry.resource_type("User"), registry.resource_type("Group")


def _resource_type(segment: str) -> ResourceType:
    rtype = _TYPES.get(segment.lower())  # dialect.LOWER_CASE_RESOURCE_PATH
    if rtype is None and segment.lower() in _DISCOVERY:
        raise ScimError(f"/{segment} is read-only; only GET is allowed", status=405)
    if rtype is None:
        raise NotFound(
            f"no SCIM endpoint /{segment[:80]}; use /Users, /Groups, /Schemas, /ResourceTypes or /ServiceProviderConfig"
        )
    return rtype


def _list_query(request: ScimRequest, source: Mapping[str, Any]) -> ListQuery:
    """The list parameters from the query string (GET) or a SearchRequest (POST .search), read once."""
    limits = _services(request).limits
    return parse_list_query(
        filter_text=source.get("filter"),
        sort_by=source.get("sortBy"),
        sort_order=source.get("sortOrder"),
        start_index=source.get("startIndex"),
        count=source.get("count"),
        default_count=limits.default_page_size,
        max_count=limits.max_page_size,
    )


def _projection(request: ScimRequest, rtype: ResourceType) -> Projection:
    q = request.query_params
    return parse_projection(rtype, q.get("attributes"), q.get("excludedAttributes"))


def _answer(request: ScimRequest, outcome: Outcome) -> ScimAnswer:
    request.state["outcome"] = outcome
    headers: dict[str, str] = {}
    if outcome.etag:
        headers["ETag"] = outcome.etag
    if outcome.location:
        headers["Location"] = outcome.location
    body = outcome.body if outcome.status not in (204, 304) else None
    return ScimAnswer(body, outcome.status, headers)


async def _body(request: ScimRequest) -> Any:
    raw = await request.body()
    return decode_body(raw, limit=_services(request).settings.max_body_bytes)


async def _discovery(request: ScimRequest, kind: str, item: str | None) -> ScimAnswer:
    services = _services(request)
    rtypes = await _tenant_types(request)
    tenant = request.state["tenant"]
    base = scim_url(services.settings.public_url, tenant.slug)
    if kind in _SERVICE_PROVIDER_CONFIG:  # dialect.SERVICE_CONFIGURATION_ALIAS
        if item is not None:
            raise NotFound("ServiceProviderConfig has no sub-resources")
        doc = discovery.service_provider_config(base, max_results=services.limits.max_page_size)
    elif kind == "schemas":
        doc = (
            discovery.schemas_document(base, rtypes) if item is None else discovery.schema_document(base, item, rtypes)
        )
    else:
        doc = (
            discovery.resource_types_document(base, rtypes)
            if item is None
            else discovery.resource_type_document(base, item, rtypes)
        )
    request.state["outcome"] = Outcome(200, operation=Operation.DISCOVERY)
    return ScimAnswer(doc)


async def tenant_root(request: ScimRequest) -> ScimAnswer:
    tenant = request.path_params["tenant"]
    # Contract §2.1: a 404 at the base URL counts against the connection in Entra; answer with a pointer
    # (dialect.BASE_URL_ANSWERS).
    request.state["outcome"] = Outcome(200, operation=Operation.DISCOVERY)
    base = scim_url(_services(request).settings.public_url, tenant)
    return ScimAnswer(
        {
            "serviceProviderConfig": f"{base}/ServiceProviderConfig",
            "resourceTypes": f"{base}/ResourceTypes",
            "schemas": f"{base}/Schemas",
        }
    )


async def list_resources(request: ScimRequest) -> ScimAnswer:
    resource = request.path_params["resource"]
    if resource.lower() in _DISCOVERY:
        return await _discovery(request, resource.lower(), None)
    rtype = await _tenant_type(request, resource)
    # Only the RFC 7644 §3.4.2 parameters are read; others are ignored (dialect.UNKNOWN_QUERY_PARAMETERS).
    query = _list_query(request, request.query_params)
    outcome = await listing.search(_context(request), rtype, query, _projection(request, rtype))
    return _answer(request, outcome)


async def create_resource(request: ScimRequest) -> ScimAnswer:
    resource = request.path_params["resource"]
    if resource == ".search":
        return await _search(request, None)
    rtype = await _tenant_type(request, resource)
    body = await _body(request)
    outcome = await writing.create(_context(request), rtype, body, _projection(request, rtype))
    return _answer(request, outcome)


async def get_resource(request: ScimRequest) -> ScimAnswer:
    resource, rid = request.path_params["resource"], request.path_params["rid"]
    if resource.lower() in _DISCOVERY:
        return await _discovery(request, resource.lower(), rid)
    rtype = await _tenant_type(request, resource)
    outcome = await reading.get(
        _context(request), rtype, rid, _projection(request, rtype), request.headers.get("if-none-match")
    )
    return _answer(request, outcome)


async def search_resources(request: ScimRequest) -> ScimAnswer:
    resource, rid = request.path_params["resource"], request.path_params["rid"]
    rtype = await _tenant_type(request, resource)
    if rid != ".search":
        raise ScimError(f"POST is not allowed on a single {rtype.name}; use PUT or PATCH", status=405)
    return await _search(request, rtype)


async def _search(request: ScimRequest, rtype: ResourceType | None) -> ScimAnswer:
    """POST .search (RFC 7644 §3.4.3), on one resource type or, at the root, across all of them."""
    body = await _body(request)
    if not isinstance(body, dict):
        raise InvalidSyntax("a search request must be a JSON object (RFC 7644 §3.4.3)")
    schemas = body.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or SEARCH_REQUEST_SCHEMA not in schemas):
        raise InvalidSyntax(f"a search request must list the schema {SEARCH_REQUEST_SCHEMA!r}")
    query = _list_query(request, body)
    attributes, excluded = body.get("attributes"), body.get("excludedAttributes")
    ctx = _context(request)
    if rtype is None:
        outcome = await listing.search_all(
            ctx, query, attributes=attributes, excluded=excluded, types=await _tenant_types(request)
        )
    else:
        outcome = await listing.search(ctx, rtype, query, parse_projection(rtype, attributes, excluded))
    return _answer(request, outcome)


async def replace_resource(request: ScimRequest) -> ScimAnswer:
    resource, rid = request.path_params["resource"], request.path_params["rid"]
    rtype = await _tenant_type(request, resource)
    body = await _body(request)
    outcome = await writing.replace(
        _context(request), rtype, rid, body, _projection(request, rtype), request.headers.get("if-match")
    )
    return _answer(request, outcome)


async def patch_resource(request: ScimRequest) -> ScimAnswer:
    resource, rid = request.path_params["resource"], request.path_params["rid"]
    rtype = await _tenant_type(request, resource)
    body = await _body(request)
    outcome = await patching.patch(
        _context(request), rtype, rid, body, _projection(request, rtype), request.headers.get("if-match")
    )
    return _answer(request, outcome)


async def delete_resource(request: ScimRequest) -> ScimAnswer:
    resource, rid = request.path_params["resource"], request.path_params["rid"]
    rtype = await _tenant_type(request, resource)
    outcome = await writing.delete(_context(request), rtype, rid, request.headers.get("if-match"))
    return _answer(request, outcome)


# (number of path segments, method) -> handler: the routes the SCIM API has (`http.dispatch` routes to them).
HANDLERS: dict[tuple[int, str], Handler] = {
    (1, "GET"): tenant_root,
    (2, "GET"): list_resources,
    (2, "POST"): create_resource,
    (3, "GET"): get_resource,
    (3, "POST"): search_resources,
    (3, "PUT"): replace_resource,
    (3, "PATCH"): patch_resource,
    (3, "DELETE"): delete_resource,
    **{(shape, "OPTIONS"): options for shape in (1, 2, 3)},
}


def scim_router() -> ASGIRouteHandler:
    """The SCIM API as one plain ASGI app mounted at `/scim/v2` (`http.dispatch`)."""
    return scim_mount(HANDLERS)
