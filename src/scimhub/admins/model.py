"""What the admin surfaces (hub, admin API, CLI) get back from `admins`: who is acting, and the typed answers.

An administrator belongs to exactly one tenant; every query of this package is bound to a tenant id, and the
hub and the admin API take the tenant from the session or key (`SignedIn`), never from what the browser sends.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import msgspec

from scimhub.tenancy.model import Tenant


class AdminError(Exception):
    """Something an administrator or operator can fix; the message is one sentence, safe to show."""


class NotFound(AdminError):
    """An administrator, key or session the tenant does not have (the message names what)."""


class SignInRefused(AdminError):
    """A sign-in that did not succeed; the message is what the person reads."""


class SignInThrottled(SignInRefused):
    """Too many failed sign-ins: the message says how many seconds to wait."""

    def __init__(self, message: str, wait_seconds: int) -> None:
        super().__init__(message)
        self.wait_seconds = wait_seconds


class SignInBusy(SignInRefused):
    """Every password check slot is taken: the attempt is refused at once (no hash computed)."""


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is acting in the hub or the admin API: an administrator's session, or an admin API key.

    `scopes` is None for a session (an administrator may do everything in its tenant) and the key's scopes
    for a key (`admins.scopes`)."""

    tenant_id: int
    admin_id: int | None = None  # None for an API key
    email: str | None = None
    csrf_token: str | None = None
    must_change_password: bool = False
    session_id: int | None = None
    api_key_id: int | None = None
    api_key_label: str | None = None
    scopes: frozenset[str] | None = None


class SignedIn(msgspec.Struct, frozen=True, kw_only=True):
    """A principal (an administrator's session or an API key) with the tenant it acts on."""

    principal: Principal
    tenant: Tenant
    tenant_name: str


class ActorKind(StrEnum):
    ADMINISTRATOR = "administrator"
    API_KEY = "api key"
    OPERATOR = "operator"  # the `scimhub` CLI on the operator's database login
    ANONYMOUS = "anonymous"  # a sign-in attempt before anyone is known


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Who the admin trail names for an action: an administrator's email, an API key's label, the operator."""

    kind: ActorKind
    name: str
    client_ip: str | None = None
    admin_id: int | None = None
    api_key_id: int | None = None


OPERATOR = Actor(kind=ActorKind.OPERATOR, name="operator (scimhub CLI)")


def actor_of(signed_in: SignedIn, client_ip: str | None) -> Actor:
    p = signed_in.principal
    if p.api_key_id is not None:
        return Actor(
            kind=ActorKind.API_KEY,
            name=f"API key {p.api_key_label or '(no label)'}",
            client_ip=client_ip,
            api_key_id=p.api_key_id,
        )
    return Actor(kind=ActorKind.ADMINISTRATOR, name=p.email or "?", client_ip=client_ip, admin_id=p.admin_id)


class AdminInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An administrator as the hub, the API and `scimhub admin list` show it (never a password or hash)."""

    id: int
    email: str
    created_at: dt.datetime
    last_login_at: dt.datetime | None
    status: str  # "active", "invited" (one-time password not used yet), "invitation expired"
    invitation_expires_at: dt.datetime | None
    sessions: int = 0


class ApiKeyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What is shown of an admin API key: never the key, only its last four characters."""

    id: int
    hint: str
    label: str
    scopes: list[str]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None


class IssuedApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """A new key: `key` is shown once, then only its hint."""

    key: str
    info: ApiKeyInfo


class SessionInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    admin_id: int
    email: str
    method: str  # "password" or "oidc"
    client_ip: str | None
    user_agent: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    current: bool = False


class Invitation(msgspec.Struct, frozen=True, kw_only=True):
    """A new administrator; `password` is the one-time password when one was generated (shown once)."""

    admin: AdminInfo
    password: str | None
