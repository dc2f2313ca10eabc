"""Tenant administrators: accounts (argon2), server-side sessions, admin API keys, sign-in throttling.

An administrator belongs to exactly one tenant; every query here is bound to a tenant id, and the hub and
the admin API take the tenant from the session or key (`SignedIn`), never from what the browser sends.
Session tokens and API keys are stored only as their SHA-256 digests (`tenancy.tokens.token_digest`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import math
import secrets

import asyncpg
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from scimhub.tenancy.db import Connection, fetch_one
from scimhub.tenancy.directory import TENANT_COLUMNS, tenant_from_row
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.rules import SettingRejected, check_email
from scimhub.tenancy.tokens import token_digest

_hasher = PasswordHasher()
SESSION_HOURS = 12
THROTTLE_AFTER = 5  # failed sign-ins in THROTTLE_WINDOW before each further attempt waits
THROTTLE_WINDOW = dt.timedelta(minutes=15)
MAX_THROTTLE_SECONDS = 900
MIN_PASSWORD = 12
API_KEY_PREFIX = "sha_"

# The tenant comes with the session or key in one round trip; TENANT_COLUMNS are what `tenant_from_row` reads.
# The app login may not read digest columns: the functions of public migration m0003 find the one row whose
# digest the caller holds (an unexpired session; an unrevoked key, whose use they record).
_SESSION = f"""
SELECT s.admin_id, s.csrf_token, a.email, a.must_change_password, t.name AS tenant_name, {TENANT_COLUMNS}
FROM public.scimhub_find_admin_session($1) s
JOIN public.admin_user a ON a.id = s.admin_id
JOIN public.tenant t ON t.id = s.tenant_id
"""  # noqa: S608 - a fixed column list, the digest is a bind parameter
_API_KEY = f"""
SELECT t.name AS tenant_name, {TENANT_COLUMNS}
FROM public.scimhub_use_admin_api_key($1) used JOIN public.tenant t ON t.id = used.tenant_id
"""  # noqa: S608 - a fixed column list, the digest is a bind parameter


class AdminError(Exception):
    """Something an administrator can fix; the message is safe to show."""


class SignInThrottled(AdminError):
    """Too many failed sign-ins: the message says how many seconds to wait."""


class Principal(msgspec.Struct, frozen=True):
    """Who is acting in the hub or the admin API."""

    tenant_id: int
    admin_id: int | None  # None for an API key
    email: str | None
    csrf_token: str | None
    must_change_password: bool = False


class SignedIn(msgspec.Struct, frozen=True, kw_only=True):
    """A principal (an administrator's session or an API key) with the tenant it acts on."""

    principal: Principal
    tenant: Tenant
    tenant_name: str


class AdminInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    email: str
    created_at: dt.datetime
    last_login_at: dt.datetime | None


class ApiKeyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What the hub shows of an admin API key: never the key, only its last four characters."""

    hint: str
    label: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None


@functools.cache
def _dummy_hash() -> str:
    """A real hash to verify against when the email is unknown, so timing does not tell accounts apart
    (made at first use: hashing costs ~0.2 s, which every CLI command would pay at import)."""
    return _hasher.hash(secrets.token_urlsafe(16))


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AdminError(f"the password needs at least {MIN_PASSWORD} characters")


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def csrf_matches(principal: Principal, given: str) -> bool:
    """Whether `given` is the session's CSRF token (constant time). An API key has none: never matches."""
    return principal.csrf_token is not None and hmac.compare_digest(given.encode(), principal.csrf_token.encode())


async def create_admin(conn: Connection, tenant_id: int, email: str, password: str | None = None) -> str | None:
    """Create an administrator; returns the generated one-time password when none was given."""
    try:
        email = check_email(email)
    except SettingRejected as exc:
        raise AdminError(str(exc)) from None
    generated = None
    if password is None:
        password = generated = generate_password()
    check_password(password)
    try:
        await conn.execute(
            "INSERT INTO public.admin_user (tenant_id, email, password_hash, must_change_password) "
            "VALUES ($1, $2, $3, $4)",
            tenant_id,
            email,
            _hasher.hash(password),
            generated is not None,
        )
    except asyncpg.UniqueViolationError:
        raise AdminError(f"{email} is already an administrator of this tenant") from None
    return generated


async def throttle_seconds(conn: Connection, tenant_id: int, email: str, *, now: dt.datetime) -> int:
    """Whole seconds this email must wait at `now` before its next attempt (0: it may try now).

    Counts the failures within THROTTLE_WINDOW before `now` since the last success; from the THROTTLE_AFTER-th
    on, each one doubles the wait after the latest failure: 2 s, 4 s, 8 s ... at most 15 minutes.
    """
    row = await fetch_one(
        conn,
        """SELECT count(*) AS n, max(at) AS last FROM public.admin_signin
           WHERE tenant_id = $1 AND lower(email) = lower($2) AND NOT success
             AND at > $3::timestamptz - $4::interval AND at <= $3::timestamptz
             AND at > coalesce((SELECT max(at) FROM public.admin_signin WHERE tenant_id = $1
                                AND lower(email) = lower($2) AND success AND at <= $3), '-infinity')""",
        tenant_id,
        email,
        now,
        THROTTLE_WINDOW,
    )
    failures = int(row["n"])
    if failures < THROTTLE_AFTER:
        return 0
    wait: int = min(MAX_THROTTLE_SECONDS, 2 ** (failures - THROTTLE_AFTER + 1))
    last: dt.datetime = row["last"]
    return max(0, math.ceil(wait - (now - last).total_seconds()))


async def sign_in(
    conn: Connection,
    tenant_id: int,
    email: str,
    password: str,
    client_ip: str | None,
    *,
    now: dt.datetime,
) -> tuple[str, Principal]:
    """Check the password at `now` (the attempt is recorded at that moment); returns (session cookie token,
    principal). Raises SignInThrottled while `throttle_seconds` says wait (the password is not even checked,
    nor the attempt recorded), AdminError for a wrong email or password."""
    email = email.strip()[:254]
    wait = await throttle_seconds(conn, tenant_id, email, now=now)
    if wait:
        raise SignInThrottled(f"too many failed sign-ins; try again in {wait} seconds")
    row = await conn.fetchrow(
        "SELECT id, email, password_hash, must_change_password FROM public.admin_user "
        "WHERE tenant_id = $1 AND lower(email) = lower($2)",
        tenant_id,
        email,
    )
    try:  # an unknown email is checked against a dummy hash, so it takes as long as a wrong password
        _hasher.verify(row["password_hash"] if row else _dummy_hash(), password)
        ok = row is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    await conn.execute(
        "INSERT INTO public.admin_signin (tenant_id, email, client_ip, success, at) VALUES ($1, $2, $3, $4, $5)",
        tenant_id,
        email,
        client_ip,
        ok,
        now,
    )
    if not ok or row is None:
        raise AdminError("wrong email or password")
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    await conn.execute(
        """INSERT INTO public.admin_session (digest, admin_id, tenant_id, csrf_token, expires_at)
           VALUES ($1, $2, $3, $4, now() + make_interval(hours => $5))""",
        token_digest(token),
        row["id"],
        tenant_id,
        csrf,
        SESSION_HOURS,
    )
    await conn.execute("UPDATE public.admin_user SET last_login_at = now() WHERE id = $1", row["id"])
    return token, Principal(tenant_id, row["id"], row["email"], csrf, row["must_change_password"])


def _signed_in(install_id: str, row: asyncpg.Record, principal: Principal) -> SignedIn:
    return SignedIn(principal=principal, tenant=tenant_from_row(install_id, row), tenant_name=row["tenant_name"])


async def find_session(conn: Connection, install_id: str, token: str) -> SignedIn | None:
    """The administrator and tenant of an unexpired session cookie token, or None."""
    row = await conn.fetchrow(_SESSION, token_digest(token))
    if row is None:
        return None
    principal = Principal(row["id"], row["admin_id"], row["email"], row["csrf_token"], row["must_change_password"])
    return _signed_in(install_id, row, principal)


async def find_api_key(conn: Connection, install_id: str, key: str) -> SignedIn | None:
    """The tenant of an unrevoked admin API key (its last use is recorded), or None."""
    row = await conn.fetchrow(_API_KEY, token_digest(key))
    if row is None:
        return None
    return _signed_in(install_id, row, Principal(row["id"], None, None, None))


async def sign_out(conn: Connection, token: str) -> None:
    await conn.execute("SELECT public.scimhub_end_admin_session($1)", token_digest(token))


async def change_password(conn: Connection, p: Principal, new_password: str) -> None:
    check_password(new_password)
    await conn.execute(
        "UPDATE public.admin_user SET password_hash = $2, must_change_password = false WHERE id = $1",
        p.admin_id,
        _hasher.hash(new_password),
    )


async def list_admins(conn: Connection, tenant_id: int) -> list[AdminInfo]:
    rows = await conn.fetch(
        "SELECT id, email, created_at, last_login_at FROM public.admin_user WHERE tenant_id = $1 ORDER BY lower(email)",
        tenant_id,
    )
    return [AdminInfo(**r) for r in rows]


async def create_api_key(conn: Connection, tenant_id: int, label: str = "") -> str:
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO public.admin_api_key (tenant_id, digest, hint, label) VALUES ($1, $2, $3, $4)",
        tenant_id,
        token_digest(key),
        "…" + key[-4:],
        label[:80],
    )
    return key


async def list_api_keys(conn: Connection, tenant_id: int) -> list[ApiKeyInfo]:
    """The tenant's unrevoked admin API keys, oldest first."""
    rows = await conn.fetch(
        "SELECT hint, label, created_at, last_used_at FROM public.admin_api_key "
        "WHERE tenant_id = $1 AND revoked_at IS NULL ORDER BY created_at",
        tenant_id,
    )
    return [ApiKeyInfo(**r) for r in rows]


async def purge_expired_sessions(conn: Connection) -> int:
    result = await conn.execute("DELETE FROM public.admin_session WHERE expires_at < now()")
    return int(result.split()[-1])
