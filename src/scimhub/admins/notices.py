"""Security notices: trail entries the vocabulary marks security-relevant (`notice = 'pending'`), mailed to
every administrator of the tenant by `notify.admin_notice` through the `email.*_admin_notice*` tasks.

A pending entry is claimed by `claim_pending` (web processes nudge the flush right after the action commits,
beat runs it every `SCIMHUB_DIGEST_FLUSH_SECONDS`; an entry claimed two minutes ago and still pending is claimed
again: its send task was lost). Deliveries are recorded per (entry, recipient), so nobody is mailed twice.
"""

from __future__ import annotations

import msgspec

from scimhub.admins.trail import TrailEntry, get_entry
from scimhub.tenancy.db import Connection

RECLAIM_AFTER_MINUTES = 2
_CLAIM_BATCH = 100


class Notice(msgspec.Struct, frozen=True, kw_only=True):
    trail_id: int
    tenant_slug: str
    tenant_name: str
    entry: TrailEntry
    recipients: list[str]  # every administrator of the tenant, at the time of sending


async def claim_pending(conn: Connection) -> list[int]:
    """Mark pending notices as claimed now; the ids to send (concurrent claims never share one)."""
    rows = await conn.fetch(
        """UPDATE public.admin_trail SET notice_claimed_at = now()
           WHERE id IN (SELECT id FROM public.admin_trail WHERE notice = 'pending'
                          AND (notice_claimed_at IS NULL
                               OR notice_claimed_at < now() - make_interval(mins => $1))
                        ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING id""",
        RECLAIM_AFTER_MINUTES,
        _CLAIM_BATCH,
    )
    return sorted(int(r["id"]) for r in rows)


async def get_notice(conn: Connection, trail_id: int) -> Notice | None:
    found = await get_entry(conn, trail_id)
    if found is None:
        return None
    tenant_id, entry = found
    tenant = await conn.fetchrow("SELECT slug, name FROM public.tenant WHERE id = $1", tenant_id)
    if tenant is None:
        return None
    emails = await conn.fetch(
        "SELECT email FROM public.admin_user WHERE tenant_id = $1 ORDER BY lower(email)", tenant_id
    )
    return Notice(
        trail_id=trail_id,
        tenant_slug=tenant["slug"],
        tenant_name=tenant["name"],
        entry=entry,
        recipients=[r["email"] for r in emails],
    )


async def delivered(conn: Connection, trail_id: int) -> dict[str, str]:
    rows = await conn.fetch("SELECT recipient, status FROM public.admin_notice_delivery WHERE trail_id = $1", trail_id)
    return {r["recipient"]: r["status"] for r in rows}


async def record_delivery(conn: Connection, trail_id: int, recipient: str, status: str, detail: str | None) -> None:
    await conn.execute(
        """INSERT INTO public.admin_notice_delivery (trail_id, recipient, status, detail) VALUES ($1, $2, $3, $4)
           ON CONFLICT (trail_id, recipient) DO UPDATE SET status = $3, detail = $4, created_at = now()""",
        trail_id,
        recipient,
        status,
        detail,
    )


async def finish(conn: Connection, trail_id: int, status: str) -> None:
    """'sent', 'partial' or 'skipped' (no SMTP configured or no administrator)."""
    await conn.execute("UPDATE public.admin_trail SET notice = $2 WHERE id = $1", trail_id, status)
