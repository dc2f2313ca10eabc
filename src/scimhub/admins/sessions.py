"""Hub sessions: server-side, the cookie holds a random token and the table only its SHA-256 digest.

A session ends when it expires (SESSION_HOURS), when its administrator signs out, ends it (one, or all but
the current one), changes the password (every other session ends), or is removed (the rows go with the
administrator). The lookup runs on every hub request, so an ended session is refused at once.
"""

from __future__ import annotations

import hmac
import secrets

import asyncpg

from scimhub.admins import trail
from scimhub.admins.model import Actor, NotFound, Principal, SessionInfo, SignedIn
from scimhub.admins.vocabulary import AdminAction, TrailOutcome
from scimhub.tenancy.db import Connection
from scimhub.tenancy.directory import TENANT_COLUMNS, tenant_from_row
from scimhub.tenancy.tokens import token_digest

SESSION_HOURS = 12
_USER_AGENT = 200

# The tenant comes with the session in one round trip; TENANT_COLUMNS are what `tenant_from_row` reads.
# The app login may not read digest columns: public migration m0003's functions find (an unexpired) or end the
# one session whose digest the caller holds.
_SESSION = f"""
SELECT s.id AS session_id, s.admin_id, s.csrf_token, a.email, a.must_change_password, t.name AS tenant_name,
       {TENANT_COLUMNS}
FROM public.scimhub_find_admin_session($1) s
JOIN public.admin_user a ON a.id = s.admin_id
JOIN public.tenant t ON t.id = s.tenant_id
"""  # noqa: S608 - a fixed column list, the digest is a bind parameter


def csrf_matches(principal: Principal, given: str) -> bool:
    """Whether `given` is the session's CSRF token (constant time). An API key has none: never matches."""
    return principal.csrf_token is not None and hmac.compare_digest(given.encode(), principal.csrf_token.encode())


async def create_session(
    conn: Connection,
    tenant_id: int,
    admin_id: int,
    *,
    method: str,
    client_ip: str | None,
    user_agent: str | None,
) -> tuple[str, str, int]:
    """A new session; returns (cookie token, CSRF token, session id)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    sid = await conn.fetchval(
        """INSERT INTO public.admin_session (digest, admin_id, tenant_id, csrf_token, expires_at, client_ip,
               user_agent, method)
           VALUES ($1, $2, $3, $4, now() + make_interval(hours => $5), $6, $7, $8) RETURNING id""",
        token_digest(token),
        admin_id,
        tenant_id,
        csrf,
        SESSION_HOURS,
        client_ip,
        user_agent[:_USER_AGENT] if user_agent else None,
        method,
    )
    await conn.execute("UPDATE public.admin_user SET last_login_at = now() WHERE id = $1", admin_id)
    return token, csrf, int(sid)


def _signed_in(install_id: str, row: asyncpg.Record, principal: Principal) -> SignedIn:
    return SignedIn(principal=principal, tenant=tenant_from_row(install_id, row), tenant_name=row["tenant_name"])


async def find_session(conn: Connection, install_id: str, token: str) -> SignedIn | None:
    """The administrator and tenant of an unexpired session cookie token, or None."""
    row = await conn.fetchrow(_SESSION, token_digest(token))
    if row is None:
        return None
    principal = Principal(
        tenant_id=row["id"],
        admin_id=row["admin_id"],
        email=row["email"],
        csrf_token=row["csrf_token"],
        must_change_password=row["must_change_password"],
        session_id=row["session_id"],
    )
    return _signed_in(install_id, row, principal)


async def sign_out(conn: Connection, token: str, actor: Actor, tenant_id: int) -> None:
    """End the session of this cookie token if it is one of the tenant's (recorded); otherwise nothing."""
    digest = token_digest(token)
    async with conn.transaction():
        found = await conn.fetchval(
            "SELECT id FROM public.scimhub_find_admin_session($1) WHERE tenant_id = $2", digest, tenant_id
        )
        if found is not None:
            await conn.execute("SELECT public.scimhub_end_admin_session($1)", digest)
            await trail.record(conn, tenant_id, actor, AdminAction.SIGNED_OUT, f"{actor.name} signed out")


async def list_sessions(
    conn: Connection, tenant_id: int, *, admin_id: int | None = None, current: int | None = None
) -> list[SessionInfo]:
    """Unexpired sessions of the tenant (of one administrator when given), newest first."""
    rows = await conn.fetch(
        """SELECT s.id, s.admin_id, a.email, s.method, s.client_ip, s.user_agent, s.created_at, s.expires_at
           FROM public.admin_session s JOIN public.admin_user a ON a.id = s.admin_id
           WHERE s.tenant_id = $1 AND s.expires_at > now() AND ($2::bigint IS NULL OR s.admin_id = $2)
           ORDER BY s.created_at DESC, s.id DESC""",
        tenant_id,
        admin_id,
    )
    return [SessionInfo(**r, current=r["id"] == current) for r in rows]


async def end_session(conn: Connection, tenant_id: int, session_id: int, actor: Actor) -> SessionInfo:
    """End one session of the tenant; NotFound (recorded as refused) for a session it does not have."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """DELETE FROM public.admin_session s USING public.admin_user a
               WHERE s.id = $2 AND s.tenant_id = $1 AND a.id = s.admin_id
               RETURNING s.id, s.admin_id, a.email, s.method, s.client_ip, s.user_agent, s.created_at, s.expires_at""",
            tenant_id,
            session_id,
        )
        if row is not None:
            info = SessionInfo(**row)
            await trail.record(
                conn,
                tenant_id,
                actor,
                AdminAction.SESSION_ENDED,
                f"ended a session of {info.email} (from {info.client_ip or 'unknown address'})",
                changes=[trail.Change("session", str(info.id), None)],
            )
            return info
    await trail.record(
        conn,
        tenant_id,
        actor,
        AdminAction.SESSION_ENDED,
        f"no session {session_id} to end",
        outcome=TrailOutcome.REFUSED,
    )
    raise NotFound(f"this tenant has no session {session_id}")


async def end_other_sessions(conn: Connection, tenant_id: int, admin_id: int, keep: int | None, actor: Actor) -> int:
    """End every session of this administrator but `keep`; how many ended."""
    async with conn.transaction():
        ended = await conn.fetch(
            """DELETE FROM public.admin_session WHERE tenant_id = $1 AND admin_id = $2
                   AND ($3::bigint IS NULL OR id <> $3) RETURNING id""",
            tenant_id,
            admin_id,
            keep,
        )
        if ended:
            await trail.record(
                conn,
                tenant_id,
                actor,
                AdminAction.SESSION_ENDED,
                f"ended {len(ended)} other session(s) of {actor.name}",
                changes=[trail.Change("sessions", str(len(ended)), "0")],
            )
    return len(ended)


async def purge_expired_sessions(conn: Connection) -> int:
    """Expired sessions, sign-in states and sign-in attempts older than the throttle's longest look-back."""
    result = await conn.execute("DELETE FROM public.admin_session WHERE expires_at < now()")
    await conn.execute("DELETE FROM public.admin_oidc_state WHERE expires_at < now()")
    await conn.execute("DELETE FROM public.admin_signin WHERE at < now() - interval '31 days'")
    return int(result.split()[-1])
