"""Sign-in with the tenant's identity provider (OpenID Connect): its settings, and the two halves of a sign-in.

- Settings (`tenant_oidc`): issuer, client id, client secret (stored encrypted with a key derived from
  SCIMHUB_SECRET_KEY, never returned: `OidcSettings.has_secret` only), and whether password sign-in stays on.
  Saving checks the issuer by fetching its discovery document and keys: an issuer that does not answer or
  answers garbage is refused (recorded in the trail), nothing saved. Password sign-in can be switched off
  only while a provider is configured.
- `start_signin`: a fresh `state`, `nonce` and PKCE verifier, kept in `admin_oidc_state` for STATE_MINUTES and
  bound to the browser by a random cookie value (its digest is stored); returns the provider's URL.
- `finish_signin`: the state is consumed exactly once (a replayed or forged state finds nothing), the browser
  must be the one that started it, the code is exchanged, the ID token validated (`oidc_provider`), and the
  administrator whose email equals the token's verified email is signed in. The first OIDC sign-in links the
  account to the token's subject; later ones must come from the same subject. Every refusal is a clear
  `OidcError`, no session, and an entry in the trail.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from urllib.parse import urlsplit

import msgspec
from cryptography.fernet import Fernet, InvalidToken

from scimhub.admins import trail
from scimhub.admins.model import Actor, ActorKind, Principal
from scimhub.admins.oidc_provider import (
    OidcError,
    authorization_url,
    check_issuer,
    discover,
    exchange_code,
    validate_id_token,
)
from scimhub.admins.sessions import create_session
from scimhub.admins.vocabulary import AdminAction, TrailOutcome
from scimhub.tenancy.db import Connection
from scimhub.tenancy.tokens import token_digest

STATE_MINUTES = 10
MAX_CLIENT_ID = 200
MAX_SECRET = 500


class OidcSettings(msgspec.Struct, frozen=True, kw_only=True):
    issuer: str
    client_id: str
    has_secret: bool
    password_signin: bool
    updated_at: dt.datetime


class SignInOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What the sign-in page offers: the provider's button (its label) and/or the password form."""

    provider: str | None
    password: bool


class Started(msgspec.Struct, frozen=True, kw_only=True):
    url: str  # the provider's authorization URL to send the browser to
    browser_token: str  # goes into a cookie; only its digest is stored


def _fernet(secret_key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"scimhub-oidc:" + secret_key.encode()).digest()))


async def get_settings(conn: Connection, tenant_id: int) -> OidcSettings | None:
    row = await conn.fetchrow(
        "SELECT issuer, client_id, client_secret_encrypted <> '' AS has_secret, password_signin, updated_at "
        "FROM public.tenant_oidc WHERE tenant_id = $1",
        tenant_id,
    )
    return OidcSettings(**row) if row else None


async def sign_in_options(conn: Connection, tenant_id: int | None) -> SignInOptions:
    settings = await get_settings(conn, tenant_id) if tenant_id is not None else None
    if settings is None:
        return SignInOptions(provider=None, password=True)
    host = urlsplit(settings.issuer).hostname or "your identity provider"
    label = "Microsoft" if host == "login.microsoftonline.com" else host
    return SignInOptions(provider=label, password=settings.password_signin)


async def save_settings(
    conn: Connection,
    tenant_id: int,
    actor: Actor,
    *,
    issuer: str,
    client_id: str,
    client_secret: str | None,
    secret_key: str,
) -> OidcSettings:
    """Set the provider (a None or empty secret keeps the stored one). OidcError, recorded as refused and
    nothing saved, when the issuer is not usable or a value is missing."""
    before = await get_settings(conn, tenant_id)
    try:
        issuer = check_issuer(issuer)
        client_id = client_id.strip()
        if not client_id or len(client_id) > MAX_CLIENT_ID:
            raise OidcError(f"the client id must have 1 to {MAX_CLIENT_ID} characters")
        if client_secret is not None and len(client_secret) > MAX_SECRET:
            raise OidcError(f"the client secret can have at most {MAX_SECRET} characters")
        if not client_secret and (before is None or not before.has_secret):
            raise OidcError("the client secret is needed (the value of a secret of the app registration)")
        await discover(issuer, refresh=True)
    except OidcError as exc:
        await trail.record(
            conn,
            tenant_id,
            actor,
            AdminAction.OIDC_CHANGED,
            f"sign-in settings not saved: {exc}",
            outcome=TrailOutcome.REFUSED,
            changes=[trail.Change("issuer", before.issuer if before else None, issuer[:300])],
        )
        raise
    encrypted = _fernet(secret_key).encrypt(client_secret.encode()).decode() if client_secret else None
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO public.tenant_oidc (tenant_id, issuer, client_id, client_secret_encrypted)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (tenant_id) DO UPDATE SET issuer = $2, client_id = $3,
                   client_secret_encrypted = coalesce($4, tenant_oidc.client_secret_encrypted), updated_at = now()""",
            tenant_id,
            issuer,
            client_id,
            encrypted,
        )
        changes = [
            trail.Change(field, old, new)
            for field, old, new in (
                ("issuer", before.issuer if before else None, issuer),
                ("client id", before.client_id if before else None, client_id),
                ("client secret", None, "changed" if client_secret else None),
            )
            if old != new
        ]
        await trail.record(
            conn,
            tenant_id,
            actor,
            AdminAction.OIDC_CHANGED,
            f"set the identity provider to {issuer}",
            changes=changes,
        )
        saved = await get_settings(conn, tenant_id)
    assert saved is not None  # noqa: S101 - written just above in this transaction
    return saved


async def set_password_signin(conn: Connection, tenant_id: int, actor: Actor, *, enabled: bool) -> None:
    """Switch password sign-in on or off; off needs a configured provider (OidcError otherwise)."""
    async with conn.transaction():
        before = await conn.fetchval(
            "SELECT password_signin FROM public.tenant_oidc WHERE tenant_id = $1 FOR UPDATE", tenant_id
        )
        if before is None:
            if enabled:
                return
            raise OidcError("set up sign-in with your identity provider first; password sign-in stays on")
        await conn.execute(
            "UPDATE public.tenant_oidc SET password_signin = $2 WHERE tenant_id = $1", tenant_id, enabled
        )
        if before != enabled:
            await trail.record(
                conn,
                tenant_id,
                actor,
                AdminAction.OIDC_CHANGED,
                f"switched password sign-in {'on' if enabled else 'off'}",
                changes=[trail.Change("password sign-in", "on" if before else "off", "on" if enabled else "off")],
            )


async def remove_settings(conn: Connection, tenant_id: int, actor: Actor) -> None:
    """Forget the provider; password sign-in is on again (no tenant is left without a way in)."""
    async with conn.transaction():
        issuer = await conn.fetchval("DELETE FROM public.tenant_oidc WHERE tenant_id = $1 RETURNING issuer", tenant_id)
        if issuer is not None:
            await trail.record(
                conn,
                tenant_id,
                actor,
                AdminAction.OIDC_CHANGED,
                "removed sign-in with the identity provider; password sign-in is on",
                changes=[trail.Change("issuer", issuer, None)],
            )


async def _config(conn: Connection, tenant_id: int, secret_key: str) -> tuple[str, str, str]:
    row = await conn.fetchrow(
        "SELECT issuer, client_id, client_secret_encrypted FROM public.tenant_oidc WHERE tenant_id = $1", tenant_id
    )
    if row is None:
        raise OidcError("this tenant has not set up sign-in with an identity provider")
    try:
        secret = _fernet(secret_key).decrypt(row["client_secret_encrypted"].encode()).decode()
    except InvalidToken:
        raise OidcError(
            "the stored client secret cannot be read (SCIMHUB_SECRET_KEY changed?): enter it again"
        ) from None
    return row["issuer"], row["client_id"], secret


async def start_signin(
    conn: Connection, tenant_id: int, *, redirect_uri: str, next_path: str, secret_key: str, now: dt.datetime
) -> Started:
    issuer, client_id, _ = await _config(conn, tenant_id, secret_key)
    provider, _ = await discover(issuer)
    state, nonce, verifier, browser = (secrets.token_urlsafe(32) for _ in range(4))
    await conn.execute(
        """INSERT INTO public.admin_oidc_state (state_digest, tenant_id, browser_digest, nonce, code_verifier,
               next_path, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        token_digest(state),
        tenant_id,
        token_digest(browser),
        nonce,
        verifier,
        next_path[:500],
        now + dt.timedelta(minutes=STATE_MINUTES),
    )
    url = authorization_url(
        provider, client_id=client_id, redirect_uri=redirect_uri, state=state, nonce=nonce, code_verifier=verifier
    )
    return Started(url=url, browser_token=browser)


async def finish_signin(
    conn: Connection,
    tenant_id: int,
    *,
    state: str,
    code: str,
    browser_token: str,
    redirect_uri: str,
    client_ip: str | None,
    user_agent: str | None,
    secret_key: str,
    now: dt.datetime,
    provider_error: str | None = None,
) -> tuple[str, Principal, str]:
    """(session cookie token, principal, the path to go to next); OidcError, no session, recorded otherwise.
    With `provider_error` (the provider sent the browser back with `error=`) the state is consumed and the
    sign-in refused."""
    anonymous = Actor(kind=ActorKind.ANONYMOUS, name="(identity provider sign-in)", client_ip=client_ip)
    try:
        return await _finish(
            conn,
            tenant_id,
            state,
            code,
            browser_token,
            redirect_uri,
            client_ip,
            user_agent,
            secret_key,
            now,
            provider_error,
        )
    except OidcError as exc:
        await trail.record(
            conn,
            tenant_id,
            exc.actor if isinstance(exc, _Refused) else anonymous,
            AdminAction.SIGN_IN_FAILED,
            f"identity provider sign-in failed: {exc}",
            outcome=TrailOutcome.REFUSED,
        )
        raise


class _Refused(OidcError):
    """A refusal once the token named someone: the trail names them."""

    def __init__(self, message: str, actor: Actor) -> None:
        super().__init__(message)
        self.actor = actor


async def _finish(
    conn: Connection,
    tenant_id: int,
    state: str,
    code: str,
    browser_token: str,
    redirect_uri: str,
    client_ip: str | None,
    user_agent: str | None,
    secret_key: str,
    now: dt.datetime,
    provider_error: str | None,
) -> tuple[str, Principal, str]:
    # Consumed in one statement (public migration m0021, which also compares the browser's digest: the app login
    # reads no digest): a second use of the same state (a replay) finds nothing.
    row = await conn.fetchrow(
        "SELECT same_browser, nonce, code_verifier, next_path, expires_at "
        "FROM public.scimhub_take_oidc_state($1, $2, $3)",
        token_digest(state[:200]),
        tenant_id,
        token_digest(browser_token[:200]) if browser_token else None,
    )
    if row is None:
        raise OidcError("this sign-in link is not valid: it was already used, has expired or was not made here")
    if row["expires_at"] <= now:
        raise OidcError(f"this sign-in took longer than {STATE_MINUTES} minutes; start again")
    if not row["same_browser"]:
        raise OidcError("this sign-in was started in another browser; start again here")
    if provider_error or not code:
        raise OidcError(f"the identity provider did not sign you in ({provider_error or 'no code'})")
    issuer, client_id, secret = await _config(conn, tenant_id, secret_key)
    provider, keys = await discover(issuer)
    id_token = await exchange_code(
        provider,
        client_id=client_id,
        client_secret=secret,
        redirect_uri=redirect_uri,
        code=code[:2000],
        code_verifier=row["code_verifier"],
    )
    try:
        token = validate_id_token(id_token, keys, issuer=issuer, client_id=client_id, nonce=row["nonce"], now=now)
    except OidcError:
        # A key rotated at the provider since we cached its keys: fetch them once more, then decide.
        provider, keys = await discover(issuer, refresh=True)
        token = validate_id_token(id_token, keys, issuer=issuer, client_id=client_id, nonce=row["nonce"], now=now)
    if token.email is None:
        raise OidcError("the identity provider did not send a verified email address for this account")
    named = Actor(kind=ActorKind.ANONYMOUS, name=token.email, client_ip=client_ip)
    admin = await conn.fetchrow(
        "SELECT id, email, must_change_password, oidc_subject FROM public.admin_user "
        "WHERE tenant_id = $1 AND lower(email) = lower($2)",
        tenant_id,
        token.email,
    )
    if admin is None:
        raise _Refused(f"{token.email} is not an administrator of this tenant", named)
    if admin["oidc_subject"] is not None and admin["oidc_subject"] != token.subject:
        raise _Refused(f"{token.email} is linked to another account of the identity provider", named)
    async with conn.transaction():
        await conn.execute(
            # A pending invitation is accepted; its one-time password stops working ('!' is no argon2 hash).
            "UPDATE public.admin_user SET oidc_subject = $2, must_change_password = false, "
            "invitation_expires_at = NULL, "
            "password_hash = CASE WHEN invitation_expires_at IS NULL THEN password_hash ELSE '!' END WHERE id = $1",
            admin["id"],
            token.subject,
        )
        cookie, csrf, session_id = await create_session(
            conn, tenant_id, admin["id"], method="oidc", client_ip=client_ip, user_agent=user_agent
        )
        actor = Actor(kind=ActorKind.ADMINISTRATOR, name=admin["email"], client_ip=client_ip, admin_id=admin["id"])
        await trail.record(conn, tenant_id, actor, AdminAction.SIGNED_IN, "signed in with the identity provider")
    principal = Principal(
        tenant_id=tenant_id, admin_id=admin["id"], email=admin["email"], csrf_token=csrf, session_id=session_id
    )
    return cookie, principal, row["next_path"]
