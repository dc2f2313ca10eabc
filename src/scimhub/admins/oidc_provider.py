"""Talking to a tenant's OpenID provider (OpenID Connect Core 1.0, Discovery 1.0): the protocol only, no
database. authlib builds the authorization request (code flow with PKCE S256, `state`, `nonce`) and makes the
token request; joserfc checks the ID token's signature against the provider's published keys (JWKS) and its
claims (issuer, audience, expiry, nonce). Nothing here is hand-written JWT code.

Every failure is an `OidcError` whose message an administrator can act on; nothing in it is a secret.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jwk import KeySet

from scimhub.admins.model import AdminError

TIMEOUT_SECONDS = 5.0  # every request to the provider (authlib wants a number, httpx takes one too)
TIMEOUT = httpx.Timeout(TIMEOUT_SECONDS)
CACHE_SECONDS = 300.0
SCOPE = "openid email profile"
LEEWAY_SECONDS = 60  # clock skew between us and the provider (OpenID Connect Core §3.1.3.7 allows "a few minutes")
_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
_MAX_DOCUMENT = 256 * 1024


class OidcError(AdminError):
    """The provider could not be used, or what it sent was refused; the message says which and why."""


class Provider(msgspec.Struct, frozen=True, kw_only=True):
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


class IdToken(msgspec.Struct, frozen=True, kw_only=True):
    subject: str
    email: str | None  # a verified email, or None


def check_issuer(issuer: str) -> str:
    """An issuer URL: https, or http on a loopback address (a provider on this machine, e.g. in tests)."""
    issuer = issuer.strip()
    parts = urlsplit(issuer)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if len(issuer) > 500 or parts.scheme not in ("https", "http") or not host or parts.query or parts.fragment:
        raise OidcError(
            f"the issuer must be an https URL such as https://login.microsoftonline.com/<tenant-id>/v2.0, "
            f"got {issuer[:80]!r}"
        )
    if parts.scheme == "http" and not loopback:
        raise OidcError("the issuer must use https (plain http only for a provider on this machine)")
    return issuer


_cache: dict[str, tuple[float, Provider, KeySet]] = {}


async def _get_json(client: httpx.AsyncClient, url: str, what: str) -> dict[str, Any]:
    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        raise OidcError(f"the identity provider did not answer at {url[:200]} ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise OidcError(f"the identity provider answered {response.status_code} for its {what} at {url[:200]}")
    try:
        if len(response.content) > _MAX_DOCUMENT:
            raise ValueError("too large")
        document = msgspec.json.decode(response.content)
    except (msgspec.DecodeError, ValueError):
        raise OidcError(f"the identity provider's {what} at {url[:200]} is not JSON") from None
    if not isinstance(document, dict):
        raise OidcError(f"the identity provider's {what} at {url[:200]} is not a JSON object")
    return document


async def discover(issuer: str, *, refresh: bool = False) -> tuple[Provider, KeySet]:
    """The provider's endpoints (its discovery document) and signing keys, cached for CACHE_SECONDS."""
    issuer = check_issuer(issuer)
    cached = _cache.get(issuer)
    if cached and not refresh and cached[0] > time.monotonic():
        return cached[1], cached[2]
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        document = await _get_json(client, url, "OpenID configuration")
        try:
            provider = msgspec.convert(
                {k: document.get(k) for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")},
                Provider,
            )
        except msgspec.ValidationError:
            raise OidcError(
                f"the identity provider's OpenID configuration at {url[:200]} lacks the issuer, authorization, "
                "token or keys endpoint"
            ) from None
        # OpenID Connect Discovery §4.3: the issuer in the document must be the one we asked.
        if provider.issuer != issuer:
            raise OidcError(f"the identity provider calls itself {provider.issuer[:200]!r}, not {issuer[:200]!r}")
        jwks = await _get_json(client, provider.jwks_uri, "signing keys (JWKS)")
    try:
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]  # joserfc's KeySetSerialization TypedDict
    except (jose_errors.JoseError, ValueError, TypeError, KeyError):
        raise OidcError(f"the identity provider's signing keys at {provider.jwks_uri[:200]} cannot be read") from None
    _cache[issuer] = (time.monotonic() + CACHE_SECONDS, provider, keys)
    return provider, keys


def authorization_url(
    provider: Provider, *, client_id: str, redirect_uri: str, state: str, nonce: str, code_verifier: str
) -> str:
    client = AsyncOAuth2Client(
        client_id=client_id, scope=SCOPE, redirect_uri=redirect_uri, code_challenge_method="S256"
    )
    url, _ = client.create_authorization_url(
        provider.authorization_endpoint, state=state, code_verifier=code_verifier, nonce=nonce
    )
    return str(url)


async def exchange_code(
    provider: Provider, *, client_id: str, client_secret: str, redirect_uri: str, code: str, code_verifier: str
) -> str:
    """The ID token the token endpoint returns for this authorization code (client_secret_basic)."""
    async with AsyncOAuth2Client(
        client_id=client_id, client_secret=client_secret, redirect_uri=redirect_uri, timeout=TIMEOUT_SECONDS
    ) as client:
        try:
            token = await client.fetch_token(provider.token_endpoint, code=code, code_verifier=code_verifier)
        except OAuthError as exc:
            raise OidcError(f"the identity provider refused the sign-in code ({str(exc.error)[:80]})") from None
        except httpx.HTTPError as exc:
            raise OidcError(f"the identity provider's token endpoint did not answer ({type(exc).__name__})") from None
        except ValueError:
            raise OidcError("the identity provider's token endpoint answered something that is not JSON") from None
    id_token = token.get("id_token") if isinstance(token, dict) else None
    if not isinstance(id_token, str):
        raise OidcError("the identity provider's token answer has no ID token")
    return id_token


_CLAIM_MESSAGES = {
    "iss": "the ID token was issued by another issuer",
    "aud": "the ID token was not issued for this application (wrong audience)",
    "azp": "the ID token was not issued for this application (wrong authorized party)",
    "nonce": "the ID token does not belong to this sign-in (nonce mismatch)",
    "sub": "the ID token names no subject",
}


def validate_id_token(
    id_token: str, keys: KeySet, *, issuer: str, client_id: str, nonce: str, now: dt.datetime
) -> IdToken:
    """Signature (against the provider's keys), issuer, audience (and azp with several audiences), expiry and
    issue time (LEEWAY_SECONDS of skew), nonce (OpenID Connect Core §3.1.3.7). OidcError naming what failed."""
    try:
        token = jwt.decode(id_token, keys, algorithms=_ALGORITHMS)
    except jose_errors.BadSignatureError:
        raise OidcError("the ID token's signature does not match the identity provider's keys") from None
    except (jose_errors.JoseError, ValueError, TypeError):
        raise OidcError(
            "the ID token cannot be read (malformed, or signed with a key the provider does not publish)"
        ) from None
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        now=int(now.timestamp()),
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except jose_errors.ExpiredTokenError:
        raise OidcError("the ID token has expired") from None
    except jose_errors.MissingClaimError as exc:
        raise OidcError(f"the ID token lacks the claim(s) {exc.claim}") from None
    except jose_errors.InvalidClaimError as exc:
        name = str(getattr(exc, "claim", "") or "")
        raise OidcError(_CLAIM_MESSAGES.get(name, f"the ID token's claim {name!r} is not valid")) from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise OidcError(_CLAIM_MESSAGES["azp"])
    return IdToken(subject=str(claims["sub"]), email=verified_email(claims))


def verified_email(claims: dict[str, Any]) -> str | None:
    """The email a provider vouches for: `email` with `email_verified: true` (OpenID Connect Core §5.1), or
    for Entra ID `email` with its optional claim `xms_edov: true` (the email's domain is verified by the tenant
    that owns it; Entra sends no `email_verified`)."""
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip():
        return None
    if claims.get("email_verified") is True or claims.get("xms_edov") in (True, "1", "true"):
        return email.strip()
    return None
