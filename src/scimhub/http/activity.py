"""One activity event per SCIM request (reads included), around the auth middleware.

Successful writes are recorded inside their own transaction (`write_audit`); everything else (reads,
rejected requests, failed writes, authentication failures) is buffered by the recorder. The Authorization
header is never read here.
"""

from __future__ import annotations

import os
import re
import time
from typing import TYPE_CHECKING, Any

from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from scimhub import metrics
from scimhub.audit.events import ActivityEvent, encode_event, new_event_id, now_iso, redact_body, redact_path
from scimhub.audit.sanitise import bounded
from scimhub.audit.vocabulary import Operation, counts_toward_digest, operation_for_request, outcome_of
from scimhub.http.auth import authenticate
from scimhub.observability import access_log, set_request_tags
from scimhub.provisioning.context import Outcome
from scimhub.scim.errors import ScimError, TryLater
from scimhub.tenancy.model import Tenant

if TYPE_CHECKING:
    from scimhub.http.services import Services

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_GUID = re.compile(r'"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"')
_KEEP_BODY = 65_536
_RESOURCE_TYPES = {"users": "User", "groups": "Group"}  # the path segment, any case (RFC 7644 §3.2)


def _target_from_body(raw: bytes, resource: str | None) -> str | None:
    import msgspec

    if not raw or (resource or "").lower() not in _RESOURCE_TYPES:
        return None
    try:
        data = msgspec.json.decode(raw)
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None
    if isinstance(data, dict):
        for key, value in data.items():
            if key.lower() in {"username", "displayname"} and isinstance(value, str):
                return value  # cleaned and cut with the rest of the event (`RequestInfo.event`)
    return None


# The endpoints' RFC spellings by their lower-case path segment (RFC 7644 §3.2, §3.4.3; dialect aliases).
_ENDPOINTS = {
    "users": "Users",
    "groups": "Groups",
    "schemas": "Schemas",
    "resourcetypes": "ResourceTypes",
    "serviceproviderconfig": "ServiceProviderConfig",
    "serviceconfiguration": "ServiceProviderConfig",
    ".search": ".search",
}


def route_template(params: dict[str, Any]) -> str:
    """The SCIM route a request took, from a fixed set whatever the client sent: a segment that names no
    endpoint is `{unknown}`, an id is `{id}` (metric labels and log lines can never grow from client input)."""
    route = "/scim/v2/{tenant}"
    resource = params.get("resource")
    if resource is None:
        return route
    endpoint = _ENDPOINTS.get(resource.lower(), "{unknown}")
    route += "/" + endpoint
    rid = params.get("rid")
    if rid is not None:
        route += "/.search" if rid == ".search" and endpoint in ("Users", "Groups") else "/{id}"
    return route


class RequestInfo:
    """What the event needs about the request, captured once on the way in."""

    __slots__ = ("body", "client_ip", "method", "path", "received_at", "request_id", "started", "user_agent")

    def __init__(self, scope: Scope) -> None:
        self.started = time.perf_counter()
        self.received_at = now_iso()
        given = agent = None
        for key, value in scope["headers"]:  # one pass for both headers kept
            if key == b"user-agent" and agent is None:
                agent = value.decode("latin-1")
            elif key == b"x-request-id" and given is None:
                given = value.decode("latin-1")
        self.request_id = given if given and _REQUEST_ID.match(given) else os.urandom(12).hex()
        client = scope.get("client")
        self.client_ip = client[0] if client else None
        self.user_agent = agent
        self.method = str(scope.get("method", "GET"))
        query = scope.get("query_string", b"").decode("latin-1")
        # The query may hold a password filter: redacted here, before anything else sees the path. The decoded
        # path may hold what the request is refused for (a NUL): cleaned with the rest in `event`.
        self.path = redact_path(scope["path"] + ("?" + query if query else ""))
        self.body = b""

    def event(self, **fields: Any) -> ActivityEvent:
        """The request's event. Passwords are redacted before this (`redact_path`, `redact_body`); here every
        field taken from the request (path, ids, user agent, target, request id, error detail, bodies) is cleaned
        and cut to `audit.sanitise.LIMITS` (`bounded`, the one place), so PostgreSQL takes it."""
        status = fields["status"]
        event = ActivityEvent(
            event_id=new_event_id(),
            received_at=self.received_at,
            duration_ms=round((time.perf_counter() - self.started) * 1000, 2),
            request_id=self.request_id,
            client_ip=self.client_ip,
            user_agent=self.user_agent,
            method=self.method,
            path=self.path,
            outcome=outcome_of(status),
            notify=counts_toward_digest(status, self.method),
            **fields,
        )
        if bounded(event):
            metrics.ACTIVITY_SANITISED.labels("request").inc()
        return event


def event_for_outcome(info: RequestInfo, outcome: Outcome, *, keep_body: bool) -> ActivityEvent:
    operation = outcome.operation
    if operation == Operation.LOOKUP and outcome.results == 0 and _GUID.search(info.path.replace("%22", '"')):
        operation = Operation.TEST_CONNECTION  # Entra's probe: a random GUID that cannot match (contract §2.1)
    return info.event(
        operation=operation,
        resource_type=outcome.resource_type,
        resource_id=outcome.resource_id,
        target=outcome.target,
        status=outcome.status,
        changed=outcome.changed,
        rewrites=outcome.rewrites,
        request_body=redact_body(info.body) if keep_body and info.method != "GET" else None,
    )


def write_audit(services: Services, info: RequestInfo, tenant: Tenant, outcome: Outcome) -> str:
    """The `ScimContext.audit` hook: a successful write's event, written by the write's own statement."""
    event = event_for_outcome(info, outcome, keep_body=tenant.keep_write_bodies)
    services.recorder.wrote(tenant.id)
    outcome.audited = True
    return encode_event(event).decode()


def scim_middleware(app: ASGIApp) -> ASGIApp:
    """The SCIM routes' one middleware (plain ASGI: no per-request bypass checks, one layer): the request's
    activity event around authentication (`http.auth.authenticate`) and the handler, then its metrics and
    access-log line. Every answer carries `X-Request-Id`."""
    cached: list[Any] = [None, None]  # the app seen last and its services (read once, not per request)

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        litestar_app = scope["litestar_app"]
        if cached[0] is not litestar_app:
            cached[0], cached[1] = litestar_app, litestar_app.state.services
        services: Services = cached[1]
        info = RequestInfo(scope)
        state = scope.setdefault("state", {})
        state["activity"] = info
        state["request_id"] = info.request_id
        set_request_tags(scope.get("path_params", {}).get("tenant"), info.request_id)
        status = 500
        failure = bytearray()  # an error answer's body, kept for its event
        request_id = (b"x-request-id", info.request_id.encode())

        async def tee_receive() -> ReceiveMessage:
            message = await receive()
            if message["type"] == "http.request" and len(info.body) < _KEEP_BODY:
                info.body += message.get("body", b"")[: _KEEP_BODY - len(info.body)]
            return message

        async def tee_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), request_id]
            elif message["type"] == "http.response.body" and status >= 400 and len(failure) < _KEEP_BODY:
                failure.extend(message.get("body", b""))
            await send(message)

        error: ScimError | None = None
        try:
            await authenticate(services, scope)
            await app(scope, tee_receive, tee_send)
        except ScimError as exc:
            error = exc
            status = exc.status
            raise
        except Exception:
            status = 500
            raise
        finally:
            if services.settings.activity_log:
                _record(services, scope, state, info, status, failure, error)
            _observe(scope, state, info, status)

    return middleware


def _observe(scope: Scope, state: dict[str, Any], info: RequestInfo, status: int) -> None:
    route = route_template(scope.get("path_params", {}))
    seconds = time.perf_counter() - info.started
    tenant = state.get("tenant")
    slug = tenant.slug if tenant is not None else None
    metrics.observe(route, info.method, status, seconds, slug)
    access_log(
        {
            "request_id": info.request_id,
            "tenant": slug or "-",
            "method": info.method,
            "route": route,
            "status": status,
            "ms": round(seconds * 1000, 2),
        }
    )


def _record(
    services: Services,
    scope: Scope,
    state: dict[str, Any],
    info: RequestInfo,
    status: int,
    failure: bytearray,
    error: ScimError | None,
) -> None:
    recorder = services.recorder
    params = scope.get("path_params", {})
    tenant = state.get("tenant")
    if tenant is None:
        if status == 401 and params.get("tenant"):
            recorder.auth_failure(
                params["tenant"],
                info.event(
                    operation=Operation.AUTHENTICATION_FAILED,
                    status=401,
                    error_type="unauthorized",
                    error_detail="a request with a missing, wrong, revoked or expired token, or while the "
                    "connector was switched off",
                ),
            )
        return
    outcome: Outcome | None = state.get("outcome")
    if outcome is not None and outcome.audited:
        return
    if outcome is not None and status < 400:
        recorder.buffer(tenant, event_for_outcome(info, outcome, keep_body=False))
        return
    error = error or state.get("error")
    resource = params.get("resource")
    if status == 429 and isinstance(error, TryLater):  # over the tenant's rate limit: counted per flush
        recorder.rate_limited(
            tenant,
            info.event(
                operation=Operation.RATE_LIMITED,
                status=429,
                error_type="rate limited",
                error_detail=error.detail,
            ),
        )
        return
    resource_type = _RESOURCE_TYPES.get((resource or "").lower())
    rid = params.get("rid")
    event = info.event(
        operation=operation_for_request(info.method, resource_type, bool(rid)),
        resource_type=resource_type,
        resource_id=rid if rid and rid != ".search" else None,
        target=_target_from_body(info.body, resource),
        status=status,
        error_type=(error.scim_type or f"http {status}") if error is not None else f"http {status}",
        error_detail=error.detail if error is not None else None,
        request_body=redact_body(info.body),
        response_body=redact_body(bytes(failure)),
    )
    recorder.buffer(tenant, event)
