"""Administrator accounts: invite (a one-time password that expires), list, remove, change a password.

Rules a caller can rely on:
- an invitation's one-time password works for INVITATION_HOURS (72 h); after that the sign-in says so, and
  the invitation can be revoked (removed) or made again;
- the last administrator of a tenant who has chosen a password cannot be removed (nor remove itself):
  the tenant would have nobody left to sign in; concurrent removals are serialised on the tenant's rows;
- removing an administrator ends its sessions at once (the rows go with it);
- a password change needs the current password (except on the first sign-in page, right after the one-time
  password was typed) and ends every other session of that administrator.
Every change is written to the admin trail in the same transaction; a refused attempt is recorded too.
"""

from __future__ import annotations

import asyncpg

from scimhub.admins import trail
from scimhub.admins.model import OPERATOR, Actor, AdminError, AdminInfo, Invitation, NotFound, Principal
from scimhub.admins.passwords import generate_password, hash_password, verify_password
from scimhub.admins.vocabulary import AdminAction, TrailOutcome
from scimhub.tenancy.db import Connection
from scimhub.tenancy.rules import SettingRejected, check_email

INVITATION_HOURS = 72

_INFO = """SELECT a.id, a.email, a.created_at, a.last_login_at, a.invitation_expires_at,
       CASE WHEN a.invitation_expires_at IS NULL THEN 'active'
            WHEN a.invitation_expires_at > now() THEN 'invited' ELSE 'invitation expired' END AS status,
       (SELECT count(*) FROM public.admin_session s WHERE s.admin_id = a.id AND s.expires_at > now()) AS sessions
FROM public.admin_user a"""


async def invite(conn: Connection, tenant_id: int, email: str, actor: Actor, password: str | None = None) -> Invitation:
    """A new administrator. Without `password` a one-time password is generated (returned once) that works
    for INVITATION_HOURS; with one (the operator's `--password-stdin`) the account is active at once."""
    try:
        email = check_email(email)
    except SettingRejected as exc:
        raise AdminError(str(exc)) from None
    generated = None
    if password is None:
        password = generated = generate_password()
    hashed = await hash_password(password)
    async with conn.transaction():
        try:
            admin_id = await conn.fetchval(
                """INSERT INTO public.admin_user (tenant_id, email, password_hash, must_change_password,
                       invitation_expires_at)
                   VALUES ($1, $2, $3, $4, CASE WHEN $4 THEN now() + make_interval(hours => $5) END) RETURNING id""",
                tenant_id,
                email,
                hashed,
                generated is not None,
                INVITATION_HOURS,
            )
        except asyncpg.UniqueViolationError:
            raise AdminError(f"{email} is already an administrator of this tenant") from None
        await trail.record(
            conn,
            tenant_id,
            actor,
            AdminAction.ADMIN_INVITED,
            f"invited {email}" if generated else f"added {email}",
            changes=[trail.Change("administrator", None, email)],
        )
        info = await get_admin(conn, tenant_id, int(admin_id))
    return Invitation(admin=info, password=generated)


async def create_admin(
    conn: Connection, tenant_id: int, email: str, password: str | None = None, *, actor: Actor | None = None
) -> str | None:
    """`invite` for callers that only need the generated one-time password (None when one was given)."""
    return (await invite(conn, tenant_id, email, actor or OPERATOR, password)).password


async def get_admin(conn: Connection, tenant_id: int, admin_id: int) -> AdminInfo:
    row = await conn.fetchrow(f"{_INFO} WHERE a.tenant_id = $1 AND a.id = $2", tenant_id, admin_id)
    if row is None:
        raise NotFound(f"this tenant has no administrator {admin_id}")
    return AdminInfo(**row)


async def list_admins(conn: Connection, tenant_id: int) -> list[AdminInfo]:
    rows = await conn.fetch(f"{_INFO} WHERE a.tenant_id = $1 ORDER BY lower(a.email)", tenant_id)
    return [AdminInfo(**r) for r in rows]


async def find_admin_id(conn: Connection, tenant_id: int, email: str) -> int | None:
    found = await conn.fetchval(
        "SELECT id FROM public.admin_user WHERE tenant_id = $1 AND lower(email) = lower($2)", tenant_id, email.strip()
    )
    return None if found is None else int(found)


async def remove_admin(conn: Connection, tenant_id: int, admin_id: int | None, actor: Actor) -> AdminInfo:
    """Remove an administrator (or revoke a pending invitation) and end its sessions. NotFound for an
    administrator the tenant does not have, AdminError for the last active one; both recorded as refused."""
    refused: AdminError | None = None
    async with conn.transaction():
        # Lock the tenant's administrators: two removals at once cannot both see "one other is left".
        rows = await conn.fetch(
            "SELECT id, email, invitation_expires_at IS NULL AS active FROM public.admin_user "
            "WHERE tenant_id = $1 ORDER BY id FOR UPDATE",
            tenant_id,
        )
        target = next((r for r in rows if r["id"] == admin_id), None)
        if target is None:
            refused = NotFound("this tenant has no such administrator")
            summary = "tried to remove an administrator this tenant does not have"
        elif target["active"] and not any(r["active"] and r["id"] != admin_id for r in rows):
            refused = AdminError(
                f"{target['email']} is the last administrator of this tenant and cannot be removed; "
                "invite another administrator first"
            )
            summary = f"tried to remove {target['email']}, the last administrator"
        else:
            info = await get_admin(conn, tenant_id, target["id"])
            await conn.execute("DELETE FROM public.admin_user WHERE id = $1 AND tenant_id = $2", info.id, tenant_id)
            verb = "removed administrator" if target["active"] else "revoked the invitation of"
            await trail.record(
                conn,
                tenant_id,
                actor,
                AdminAction.ADMIN_REMOVED,
                f"{verb} {info.email} ({info.sessions} session(s) ended)",
                changes=[trail.Change("administrator", info.email, None)],
            )
            return info
    # Recorded after the (empty) transaction: an exception inside it would roll the entry back too.
    await trail.record(conn, tenant_id, actor, AdminAction.ADMIN_REMOVED, summary, outcome=TrailOutcome.REFUSED)
    raise refused


async def change_password(conn: Connection, p: Principal, current: str | None, new_password: str, actor: Actor) -> int:
    """Set a new password and end the administrator's other sessions (how many ended). The current password
    is required unless the session came from a one-time password that must be replaced first."""
    if p.admin_id is None:
        raise AdminError("only an administrator has a password")
    stored = await conn.fetchval("SELECT password_hash FROM public.admin_user WHERE id = $1", p.admin_id)
    if not p.must_change_password and not await verify_password(stored, current or ""):
        await trail.record(
            conn,
            p.tenant_id,
            actor,
            AdminAction.PASSWORD_CHANGED,
            "password not changed: the current password was wrong",
            outcome=TrailOutcome.REFUSED,
        )
        raise AdminError("the current password is wrong; nothing was changed")
    hashed = await hash_password(new_password)
    async with conn.transaction():
        await conn.execute(
            "UPDATE public.admin_user SET password_hash = $2, must_change_password = false, "
            "invitation_expires_at = NULL WHERE id = $1",
            p.admin_id,
            hashed,
        )
        ended = await conn.fetch(
            "DELETE FROM public.admin_session WHERE admin_id = $1 AND ($2::bigint IS NULL OR id <> $2) RETURNING id",
            p.admin_id,
            p.session_id,
        )
        await trail.record(
            conn,
            p.tenant_id,
            actor,
            AdminAction.PASSWORD_CHANGED,
            f"changed the password ({len(ended)} other session(s) ended)",
        )
    return len(ended)
