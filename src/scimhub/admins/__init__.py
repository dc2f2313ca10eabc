"""Tenant administrators: accounts, sessions, API keys, sign-in (password and OpenID Connect), the admin trail.

| module | what |
|---|---|
| `model` | `Principal`, `SignedIn`, `Actor`, typed answers (`AdminInfo`, `ApiKeyInfo`, `SessionInfo`), errors |
| `vocabulary` | the trail's action names (`AdminAction`), labels, which actions are mailed |
| `scopes` | the admin API key scopes, `DEFAULT_SCOPES`, `check_scopes` |
| `passwords` | argon2 off the event loop with bounded concurrency |
| `accounts` | invite (expiring one-time password), list, remove (never the last), change password |
| `sessions` | create, find, list, end one or all others, sign out, purge |
| `keys` | scoped, expiring admin API keys: issue, list, revoke, find |
| `signin` | password sign-in and its three throttles |
| `actions` | connector switch, token rotation and revocation, notification settings, each with its trail entry |
| `trail` | recording and reading the admin trail |
| `oidc`, `oidc_provider` | sign-in with the tenant's identity provider: settings, flow; protocol (authlib, joserfc) |

Every query is bound to a tenant id; the hub and the admin API take it from the session or key, never from
the URL or the body. Secrets (session tokens, API keys) are stored only as SHA-256 digests
(`tenancy.tokens.token_digest`), passwords as argon2 hashes, the OIDC client secret encrypted.
"""

from __future__ import annotations

from scimhub.admins.accounts import create_admin, list_admins
from scimhub.admins.keys import API_KEY_PREFIX, create_api_key, find_api_key, list_api_keys
from scimhub.admins.model import (
    OPERATOR,
    Actor,
    AdminError,
    NotFound,
    Principal,
    SignedIn,
    SignInBusy,
    SignInRefused,
    SignInThrottled,
    actor_of,
)
from scimhub.admins.sessions import SESSION_HOURS, csrf_matches, find_session, purge_expired_sessions
from scimhub.admins.signin import sign_in, throttle_seconds

__all__ = [
    "API_KEY_PREFIX",
    "OPERATOR",
    "SESSION_HOURS",
    "Actor",
    "AdminError",
    "NotFound",
    "Principal",
    "SignInBusy",
    "SignInRefused",
    "SignInThrottled",
    "SignedIn",
    "actor_of",
    "create_admin",
    "create_api_key",
    "csrf_matches",
    "find_api_key",
    "find_session",
    "list_admins",
    "list_api_keys",
    "purge_expired_sessions",
    "sign_in",
    "throttle_seconds",
]
