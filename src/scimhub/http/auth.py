"""Bearer token -> tenant on every SCIM route (RFC 7644 §2, contract §2.1 and §7.1).

Missing, malformed, wrong, revoked or expired tokens, another tenant's token and a switched-off tenant all
get the same 401 with a SCIM Error body: the answer never tells whether a tenant exists. An authenticated
request then counts against its tenant's rate limit (`http/throttle.py`): past it, 429 with Retry-After.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.types import Scope

from scimhub.scim.errors import TryLater, Unauthorized
from scimhub.tenancy.resolver import LookupsExhausted

if TYPE_CHECKING:
    from scimhub.http.services import Services
    from scimhub.tenancy.model import Tenant

AUTH_DETAIL = (
    "Authentication failed: send the tenant's Secret Token as 'Authorization: Bearer <token>' to this "
    "tenant's URL. The token may be wrong, revoked or rotated, or the SCIM connector may be switched off."
)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="scimhub", error="invalid_token"'}
STRANGER_DETAIL = "Too many requests with unrecognised tokens from this address; retry in a second."


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            try:
                text = value.decode("latin-1").strip()
            except UnicodeDecodeError:
                return None
            scheme, _, token = text.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token or len(token) > 512 or " " in token:
                return None
            return token
    return None


async def authenticate(services: Services, scope: Scope) -> Tenant:
    """The tenant the request's token belongs to, put in `scope["state"]["tenant"]`, or `Unauthorized` (401);
    then the request is counted against the tenant's rate limit (`TryLater`, 429 past it). Too many unknown
    tokens from one client: 429 as well (`tenancy.resolver`). Called by the SCIM routes' middleware
    (`http.activity.scim_middleware`), inside its activity event."""
    slug = scope.get("path_params", {}).get("tenant", "")
    token = bearer_token(scope)
    client = scope.get("client")
    try:
        tenant = await services.resolver.resolve(slug, token, client[0] if client else None) if token else None
    except LookupsExhausted as exc:
        raise TryLater(STRANGER_DETAIL, status=429, retry_after=exc.retry_after) from None
    if tenant is None:
        raise Unauthorized(AUTH_DETAIL)
    scope["state"]["tenant"] = tenant
    settings = services.settings
    limit = tenant.rate_limit or settings.rate_limit
    if limit:
        wait = await services.throttle.hit(
            "scim", str(tenant.id), limit=limit, seconds=settings.rate_limit_window_seconds
        )
        if wait is not None:
            raise TryLater(
                f"Too many requests: this tenant may send {limit} per {settings.rate_limit_window_seconds} s; "
                f"retry in {wait} s.",
                status=429,
                retry_after=wait,
            )
    return tenant
