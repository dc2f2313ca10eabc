"""Who may see a hub page, decided once per request before any handler runs.

1. `HubSession` (authentication middleware): the session cookie names an unexpired session, or the
   browser is sent to the sign-in page (`?expired=1` when it had a cookie).
2. Guards, in this order: the page belongs to the session's tenant (else 404, which reveals nothing about
   other tenants); an administrator with a one-time password chooses a password first (every page but
   those marked `FIRST_SIGN_IN_PAGE` redirects there); every unsafe method carries the session's CSRF
   token in the form field `csrf` (else 403, nothing changed).
3. Dependencies hand the handlers what they need: `page` (a `HubPage`), `form`, `services`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.handlers import BaseRouteHandler
from litestar.middleware.authentication import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.response import Redirect

from scimhub.admins import Actor, Principal, SignedIn, actor_of, csrf_matches
from scimhub.http.admin_access import COOKIE, UNSAFE_METHODS, client_ip, signed_in_by_cookie
from scimhub.http.hub.rendering import HubError, html
from scimhub.http.services import Services
from scimhub.tenancy.model import Tenant

# Handler `opt` key: the page is open at first sign-in, before the one-time password is replaced.
FIRST_SIGN_IN_PAGE = "first_sign_in_page"


class SignInRequired(Exception):
    def __init__(self, slug: str, next_path: str, expired: bool) -> None:
        super().__init__(slug)
        self.slug, self.next_path, self.expired = slug, next_path, expired


class PasswordChangeRequired(Exception):
    def __init__(self, slug: str) -> None:
        super().__init__(slug)
        self.slug = slug


def _slug(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return str(connection.path_params.get("slug", ""))


class HubSession(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        signed_in = await signed_in_by_cookie(connection)
        if signed_in is None:
            raise SignInRequired(_slug(connection), connection.url.path, expired=COOKIE in connection.cookies)
        return AuthenticationResult(user=signed_in, auth=None)


def _signed_in(connection: ASGIConnection[Any, Any, Any, Any]) -> SignedIn | None:
    """The session the middleware found; None only for OPTIONS (Litestar's own answer, which the
    authentication middleware lets through and which shows nothing)."""
    if connection.scope.get("method") == "OPTIONS":
        return None
    signed_in: SignedIn = connection.user
    return signed_in


def same_tenant(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    signed_in = _signed_in(connection)
    if signed_in is not None and signed_in.tenant.slug != _slug(connection):
        raise HubError(404, "Not found", "There is no such page.")


def password_changed(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    signed_in = _signed_in(connection)
    if signed_in is not None and signed_in.principal.must_change_password and not handler.opt.get(FIRST_SIGN_IN_PAGE):
        raise PasswordChangeRequired(_slug(connection))


async def csrf_checked(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    assert isinstance(connection, Request)  # noqa: S101 - the guards of HTTP handlers get the request
    signed_in = _signed_in(connection)
    if signed_in is None or connection.method not in UNSAFE_METHODS:
        return
    given = (await connection.form()).get("csrf", "")
    if not csrf_matches(signed_in.principal, str(given)):
        raise HubError(
            403,
            "This form has expired",
            "The form was not accepted (its security token is missing or "
            "out of date). Reload the page and try again; nothing was changed.",
        )


GUARDS = [same_tenant, password_changed, csrf_checked]


@dataclass(frozen=True)
class HubPage:
    """A signed-in request: the services, who is signed in, and the page's rendering."""

    services: Services
    signed_in: SignedIn
    client_ip: str | None = None

    @property
    def tenant(self) -> Tenant:
        return self.signed_in.tenant

    @property
    def actor(self) -> Actor:
        """Who the admin trail names for what this page does."""
        return actor_of(self.signed_in, self.client_ip)

    @property
    def principal(self) -> Principal:
        return self.signed_in.principal

    def render(self, template: str, *, nav: str | None = None, status: int = 200, **context: Any) -> Response[str]:
        """The template with what every signed-in page shows (navigation marks `nav`, the template's name
        unless given)."""
        return html(
            template,
            status=status,
            principal=self.principal,
            slug=self.tenant.slug,
            tenant_name=self.signed_in.tenant_name,
            page=nav or template.removesuffix(".html"),
            **context,
        )


def _hub_page(request: Request[SignedIn, Any, State], services: NamedDependency[Services]) -> HubPage:
    return HubPage(services, request.user, client_ip(request))


async def _form(request: Request[Any, Any, State]) -> dict[str, str]:
    """The submitted form's fields as text (for signed-in pages its CSRF token is already checked)."""
    return {k: str(v) for k, v in (await request.form()).items()}


provide_page = Provide(_hub_page, sync_to_thread=False)
provide_form = Provide(_form)


def sign_in_redirect(_: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    query = urlencode({"next": exc.next_path, **({"expired": "1"} if exc.expired else {})})
    return Redirect(f"/hub/{exc.slug}/login?{query}", status_code=303)


def password_redirect(_: Request[Any, Any, Any], exc: PasswordChangeRequired) -> Response[Any]:
    return Redirect(f"/hub/{exc.slug}/password", status_code=303)
