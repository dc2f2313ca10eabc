"""One exception-to-response mapping for the whole app.

On SCIM routes every failure is a SCIM Error (RFC 7644 §3.12) with `status` as a string; framework errors
(unknown route, wrong method, body too large) are translated, and an unexpected exception becomes a 500 whose
detail names only the request id: nothing of the exception (which may hold personal data) leaves the
process.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException

from scimhub.http.auth import CHALLENGE
from scimhub.http.wire import error_response
from scimhub.scim.errors import ScimError, TryLater
from scimhub.tenancy.fairness import Busy

log = logging.getLogger("scimhub.http")


def _is_scim(request: Request[Any, Any, Any]) -> bool:
    return request.scope.get("path", "").startswith("/scim/")


def _remember(request: Request[Any, Any, Any], exc: ScimError) -> None:
    request.scope.setdefault("state", {})["error"] = exc


def scim_error_handler(request: Request[Any, Any, Any], exc: ScimError) -> Response[Any]:
    _remember(request, exc)
    headers = CHALLENGE if exc.status == 401 else None
    if isinstance(exc, TryLater):
        headers = {"Retry-After": str(exc.retry_after)}
    if not _is_scim(request):
        return Response(content={"status": exc.status, "detail": exc.detail}, status_code=exc.status, headers=headers)
    return error_response(exc, headers=headers)


def busy_handler(request: Request[Any, Any, Any], exc: Busy) -> Response[Any]:
    """The database could not serve this tenant in time (`tenancy.fairness`): 503, retry shortly."""
    detail = f"the service is busy ({exc.reason}); retry in {exc.retry_after} s"
    return scim_error_handler(request, TryLater(detail, status=503, retry_after=exc.retry_after))


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if not _is_scim(request):
        return Response(
            content={"status": status, "detail": exc.detail}, status_code=status, headers=exc.headers or None
        )
    if status == 404:
        detail = "no such SCIM endpoint; use /Users, /Groups, /Schemas, /ResourceTypes or /ServiceProviderConfig"
    elif status == 405:
        detail = f"{request.method} is not allowed on this SCIM endpoint"
    elif status == 413:
        detail = "the request body is too large"
    else:
        detail = "the request could not be processed"
    scim = ScimError(detail, status=status, scim_type="invalidSyntax" if status == 400 else None)
    _remember(request, scim)
    return error_response(scim)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    request_id = request.scope.get("state", {}).get("request_id", "")
    # Only the exception type is logged; its message may carry personal data (observability scrubs too).
    log.error(
        "unhandled %s on %s %s (request %s)",
        type(exc).__name__,
        request.method,
        request.scope.get("path_template", request.url.path.split("/scim/v2/")[0] or "/scim"),
        request_id,
    )
    scim = ScimError(f"internal error; quote request id {request_id} to support", status=500)
    _remember(request, scim)
    if not _is_scim(request):
        return Response(content={"status": 500, "detail": scim.detail}, status_code=500)
    return error_response(scim)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ScimError: scim_error_handler,
    Busy: busy_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
