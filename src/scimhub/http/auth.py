"""Bearer token -> tenant on every SCIM route (RFC 7644 §2, contract §2.1 and §7.1).

Missing, malformed, wrong, revoked or expired tokens, another tenant's token and a switched-off tenant all
get the same 401 with a SCIM Error body: the answer never tells whether a tenant exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar import Litestar
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from scimhub.scim.errors import Unauthorized

if TYPE_CHECKING:
    from scimhub.http.services import Services

AUTH_DETAIL = (
    "Authentication failed: send the tenant's Secret Token as 'Authorization: Bearer <token>' to this "
    "tenant's URL. The token may be wrong, revoked or rotated, or the SCIM connector may be switched off."
)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="scimhub", error="invalid_token"'}


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


class TenantAuthMiddleware(ASGIMiddleware):
    """Puts the resolved `Tenant` in `scope["state"]["tenant"]`, or answers 401."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        services: Services = Litestar.from_scope(scope).state.services
        slug = scope.get("path_params", {}).get("tenant", "")
        token = bearer_token(scope)
        tenant = await services.resolver.resolve(slug, token) if token else None
        if tenant is None:
            raise Unauthorized(AUTH_DETAIL)
        scope.setdefault("state", {})["tenant"] = tenant
        await next_app(scope, receive, send)
