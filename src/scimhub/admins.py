"""Tenant administrators: accounts (argon2), server-side sessions, admin API keys, sign-in throttling.

An administrator belongs to exactly one tenant; every query here is bound to a tenant id, and the hub and
the admin API take the tenant from the session or key, never from what the browser sends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

import asyncpg
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
SESSION_HOURS = 12
THROTTLE_AFTER = 5  # failed sign-ins in THROTTLE_WINDOW before each further attempt waits
THROTTLE_WINDOW = dt.timedelta(minutes=15)
MIN_PASSWORD = 12
# A real hash to verify against when the email is unknown, so timing does not tell accounts apart.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AdminError(Exception):
    """Something an administrator can fix; the message is safe to show."""


class Principal(msgspec.Struct, frozen=True):
    """Who is acting in the hub or the admin API."""

    tenant_id: int
    admin_id: int | None  # None for an API key
    email: str | None
    csrf_token: str | None
    must_change_password: bool = False


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def check_email(email: str) -> str:
    email = email.strip()
    if not _EMAIL.match(email) or len(email) > 254:
        raise AdminError(f"not an email address: {email[:80]!r}")
    return email


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AdminError(f"the password needs at least {MIN_PASSWORD} characters")


def generate_password() -> str:
    return secrets.token_urlsafe(15)


async def create_admin(conn: asyncpg.Connection, tenant_id: int, email: str, password: str | None = None) -> str | None:
    """Create an administrator; returns the generated one-time password when none was given."""
    email = check_email(email)
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


async def throttle_seconds(conn: asyncpg.Connection, tenant_id: int, email: str) -> int:
    """How long this email must wait before its next attempt (0: now). Doubles per failure past the limit."""
    row = await conn.fetchrow(
        """SELECT count(*) AS n, max(at) AS last FROM public.admin_signin
           WHERE tenant_id = $1 AND lower(email) = lower($2) AND NOT success AND at > now() - $3::interval
             AND at > coalesce((SELECT max(at) FROM public.admin_signin WHERE tenant_id = $1
                                AND lower(email) = lower($2) AND success), '-infinity')""",
        tenant_id,
        email,
        THROTTLE_WINDOW,
    )
    failures = int(row["n"])
    if failures < THROTTLE_AFTER:
        return 0
    wait = min(900, 2 ** (failures - THROTTLE_AFTER + 1))
    elapsed = (dt.datetime.now(dt.UTC) - row["last"]).total_seconds()
    return max(0, int(wait - elapsed + 0.999))


async def sign_in(
    conn: asyncpg.Connection, tenant_id: int, email: str, password: str, client_ip: str | None
) -> tuple[str, Principal]:
    """Check the password; returns (session cookie token, principal). Raises AdminError."""
    email = email.strip()[:254]
    wait = await throttle_seconds(conn, tenant_id, email)
    if wait:
        raise AdminError(f"too many failed sign-ins; try again in {wait} seconds")
    row = await conn.fetchrow(
        "SELECT id, email, password_hash, must_change_password FROM public.admin_user "
        "WHERE tenant_id = $1 AND lower(email) = lower($2)",
        tenant_id,
        email,
    )
    ok = False
    try:
        ok = _hasher.verify(row["password_hash"] if row else _DUMMY_HASH, password) and row is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    await conn.execute(
        "INSERT INTO public.admin_signin (tenant_id, email, client_ip, success) VALUES ($1, $2, $3, $4)",
        tenant_id,
        email,
        client_ip,
        ok,
    )
    if not ok or row is None:
        raise AdminError("wrong email or password")
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    await conn.execute(
        """INSERT INTO public.admin_session (digest, admin_id, tenant_id, csrf_token, expires_at)
           VALUES ($1, $2, $3, $4, now() + make_interval(hours => $5))""",
        _digest(token),
        row["id"],
        tenant_id,
        csrf,
        SESSION_HOURS,
    )
    await conn.execute("UPDATE public.admin_user SET last_login_at = now() WHERE id = $1", row["id"])
    return token, Principal(tenant_id, row["id"], row["email"], csrf, row["must_change_password"])


async def session_principal(conn: asyncpg.Connection, token: str) -> Principal | None:
    row = await conn.fetchrow(
        """SELECT s.tenant_id, s.admin_id, s.csrf_token, a.email, a.must_change_password
           FROM public.admin_session s JOIN public.admin_user a ON a.id = s.admin_id
           WHERE s.digest = $1 AND s.expires_at > now()""",
        _digest(token),
    )
    if row is None:
        return None
    return Principal(row["tenant_id"], row["admin_id"], row["email"], row["csrf_token"], row["must_change_password"])


async def sign_out(conn: asyncpg.Connection, token: str) -> None:
    await conn.execute("DELETE FROM public.admin_session WHERE digest = $1", _digest(token))


async def change_password(conn: asyncpg.Connection, p: Principal, new_password: str) -> None:
    check_password(new_password)
    await conn.execute(
        "UPDATE public.admin_user SET password_hash = $2, must_change_password = false WHERE id = $1",
        p.admin_id,
        _hasher.hash(new_password),
    )


async def list_admins(conn: asyncpg.Connection, tenant_id: int) -> list[dict[str, object]]:
    rows = await conn.fetch(
        "SELECT id, email, created_at, last_login_at FROM public.admin_user WHERE tenant_id = $1 ORDER BY lower(email)",
        tenant_id,
    )
    return [dict(r) for r in rows]


async def create_api_key(conn: asyncpg.Connection, tenant_id: int, label: str = "") -> str:
    key = "sha_" + secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO public.admin_api_key (tenant_id, digest, hint, label) VALUES ($1, $2, $3, $4)",
        tenant_id,
        _digest(key),
        "…" + key[-4:],
        label[:80],
    )
    return key


async def api_key_principal(conn: asyncpg.Connection, key: str) -> Principal | None:
    row = await conn.fetchrow(
        "UPDATE public.admin_api_key SET last_used_at = now() WHERE digest = $1 AND revoked_at IS NULL "
        "RETURNING tenant_id",
        _digest(key),
    )
    return Principal(row["tenant_id"], None, None, None) if row else None


async def purge_expired_sessions(conn: asyncpg.Connection) -> int:
    result = await conn.execute("DELETE FROM public.admin_session WHERE expires_at < now()")
    return int(result.split()[-1])
