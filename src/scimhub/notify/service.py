"""Deciding when a tenant's failure digest is due, and what it says.

Rules (issue #5, DESIGN.md):
- a failure that counts (see `audit.vocabulary.counts_toward_digest`) marks the digest as pending (the drain
  does it, in the same transaction that writes the activity entry);
- the first digest after a quiet period goes out `settle` seconds (30 by default) after its first failure,
  so a burst lands in one mail, i.e. within about a minute; after that at most one digest per tenant per
  window (the tenant's setting, 60 minutes by default);
- when failures stop for a whole window after a digest, one "recovered" note follows;
- with notifications switched off or no recipients, nothing is mailed and pending counts are dropped (the
  failures stay in the activity log).
Every rule takes `now` from the caller (the flush passes the clock; tests pass the moment they mean).
Delivering a claimed digest is `notify.delivery`.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from enum import StrEnum

import asyncpg
import msgspec

from scimhub.notify.digest import DigestSummary, Example, activity_link, fmt
from scimhub.observability import report_warning
from scimhub.tenancy.db import fetch_one
from scimhub.tenancy.directory import TENANT_COLUMNS, tenant_from_row, tenant_pages
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.transaction import tenant_transaction

log = logging.getLogger("scimhub.notify")


class DigestStatus(StrEnum):
    """`notify_digest.status` (the migration's CHECK lists the same words)."""

    PENDING = "pending"  # claimed, its send task queued or under way
    SENT = "sent"  # every recipient has it
    PARTIAL = "partial"  # some recipient refused it, or still failed after the last retry
    SKIPPED = "skipped"  # no SMTP configured, notifications off, or no recipients


class RecipientStatus(StrEnum):
    """`notify_delivery.status`: what happened to one digest for one recipient."""

    SENT = "sent"
    REJECTED = "rejected"  # a permanent SMTP error (5xx): never retried
    FAILED = "failed"  # transient errors until the last retry


class TenantNotify(msgspec.Struct, frozen=True, kw_only=True):
    tenant: Tenant
    name: str
    recipients: list[str]
    enabled: bool
    window: dt.timedelta


class DueDigest(msgspec.Struct, frozen=True):
    tenant_id: int
    digest_id: uuid.UUID


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    digest_id: uuid.UUID
    recipient: str
    status: str  # a RecipientStatus
    detail: str | None
    created_at: dt.datetime


_SETTINGS = f"""SELECT {TENANT_COLUMNS}, t.name, t.notify_emails, t.notify_enabled, t.digest_window_minutes
FROM public.tenant t WHERE $1::bigint[] IS NULL OR t.id = ANY($1::bigint[]) ORDER BY t.id"""  # noqa: S608 - constants only


async def notify_settings(
    pool: asyncpg.Pool, install_id: str, tenant_ids: list[int] | None = None
) -> list[TenantNotify]:
    """The notification settings of these tenants (all when None), by id; deleted tenants are skipped."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(_SETTINGS, tenant_ids)
    return [
        TenantNotify(
            tenant=tenant_from_row(install_id, r),
            name=r["name"],
            recipients=list(r["notify_emails"]),
            enabled=r["notify_enabled"],
            window=dt.timedelta(minutes=r["digest_window_minutes"]),
        )
        for r in rows
    ]


async def claim_due_digests(
    pool: asyncpg.Pool, install_id: str, *, settle: dt.timedelta, now: dt.datetime | None = None
) -> list[DueDigest]:
    """`claim_due_digest` for every tenant: the digests to send now, across the installation. A tenant whose
    claim fails (its schema unreachable, a lock timeout) is reported and skipped: the others' digests go out,
    and the next flush tries that tenant again."""
    now = now or dt.datetime.now(dt.UTC)
    due: list[DueDigest] = []
    async for page in tenant_pages(pool, install_id):
        due.extend(await _claim_page(pool, install_id, [t.id for t in page], settle=settle, now=now))
    return due


async def _claim_page(
    pool: asyncpg.Pool, install_id: str, ids: list[int], *, settle: dt.timedelta, now: dt.datetime
) -> list[DueDigest]:
    """`claim_due_digests` for one page of tenants (`tenancy.directory.tenant_pages`)."""
    due: list[DueDigest] = []
    for tn in await notify_settings(pool, install_id, ids):
        try:
            claimed = await claim_due_digest(pool, tn, settle=settle, now=now)
        except asyncpg.PostgresError as exc:
            log.warning("digest of tenant %s not claimed (%s); will retry", tn.tenant.slug, type(exc).__name__)
            report_warning(f"digest claim failed ({type(exc).__name__})")
            continue
        due.extend(DueDigest(tn.tenant.id, d) for d in claimed)
    return due


async def claim_due_digest(
    pool: asyncpg.Pool, tn: TenantNotify, *, settle: dt.timedelta, now: dt.datetime | None = None
) -> list[uuid.UUID]:
    """Create the digest rows that are due for this tenant now; returns digests to send (new ones and
    pending ones whose send task may have been lost)."""
    now = now or dt.datetime.now(dt.UTC)
    out: list[uuid.UUID] = []
    async with tenant_transaction(pool, tn.tenant) as conn:
        st = await fetch_one(conn, "SELECT * FROM notify_state FOR UPDATE")
        pending = st["pending_failures"] + st["pending_auth_failures"]
        if not (tn.enabled and tn.recipients):
            if pending or st["recovered_due"]:
                await conn.execute(
                    "UPDATE notify_state SET pending_failures = 0, pending_auth_failures = 0, "
                    "first_failure_at = NULL, recovered_due = false"
                )
            return []
        last_sent = st["last_sent_at"]
        quiet = last_sent is None or now - last_sent >= tn.window
        if pending and st["first_failure_at"] is not None:
            due = (quiet and now - st["first_failure_at"] >= settle) or (not quiet and last_sent + tn.window <= now)
            if due:
                digest_id = uuid.uuid4()
                await conn.execute(
                    """INSERT INTO notify_digest (id, kind, window_start, window_end, failures, auth_failures)
                       VALUES ($1, 'failures', $2, $3, $4, $5)""",
                    digest_id,
                    st["first_failure_at"],
                    now,
                    st["pending_failures"],
                    st["pending_auth_failures"],
                )
                await conn.execute(
                    "UPDATE notify_state SET pending_failures = 0, pending_auth_failures = 0, "
                    "first_failure_at = NULL, last_sent_at = $1, recovered_due = true",
                    now,
                )
                out.append(digest_id)
        elif (
            not pending
            and st["recovered_due"]
            and st["last_failure_at"] is not None
            and now - st["last_failure_at"] >= tn.window
            and (last_sent is None or now - last_sent >= tn.window)
        ):
            digest_id = uuid.uuid4()
            await conn.execute(
                "INSERT INTO notify_digest (id, kind, window_start, window_end) VALUES ($1, 'recovered', $2, $3)",
                digest_id,
                st["last_failure_at"],
                now,
            )
            await conn.execute("UPDATE notify_state SET recovered_due = false")
            out.append(digest_id)
        stale = await conn.fetch(
            "SELECT id FROM notify_digest WHERE status = 'pending' "
            "AND created_at < $1::timestamptz - interval '2 minutes'",
            now,
        )
        out.extend(r["id"] for r in stale if r["id"] not in out)  # not the one just created a second time
    return out


async def create_test_digest(pool: asyncpg.Pool, tenant: Tenant) -> uuid.UUID:
    digest_id = uuid.uuid4()
    async with tenant_transaction(pool, tenant) as conn:
        await conn.execute("INSERT INTO notify_digest (id, kind) VALUES ($1, 'test')", digest_id)
    return digest_id


async def summarise(
    pool: asyncpg.Pool, tn: TenantNotify, digest_id: uuid.UUID, public_url: str
) -> DigestSummary | None:
    async with tenant_transaction(pool, tn.tenant) as conn:
        d = await conn.fetchrow("SELECT * FROM notify_digest WHERE id = $1", digest_id)
        if d is None:
            return None
        summary = DigestSummary(
            digest_id=str(digest_id),
            kind=d["kind"],
            tenant_slug=tn.tenant.slug,
            tenant_name=tn.name,
            failures=d["failures"],
            auth_failures=d["auth_failures"],
            window_start=fmt(d["window_start"]),
            window_end=fmt(d["window_end"]),
            last_failure=fmt(d["window_start"]),
            link=activity_link(public_url, tn.tenant.slug, d["window_start"], d["window_end"]),
        )
        if d["kind"] != "failures":
            return summary
        bounds = (d["window_start"], d["window_end"])
        summary.by_operation = [
            (r["operation"], int(r["n"]))
            for r in await conn.fetch(
                """SELECT operation, sum(repeat) AS n FROM activity_log
               WHERE notify AND received_at >= $1 AND received_at <= $2 GROUP BY 1 ORDER BY 2 DESC LIMIT 10""",
                *bounds,
            )
        ]
        summary.by_error = [
            (r["kind"], int(r["n"]))
            for r in await conn.fetch(
                """SELECT coalesce(error_type, 'http ' || status) || ' (' || status || ')' AS kind, sum(repeat) AS n
               FROM activity_log WHERE notify AND received_at >= $1 AND received_at <= $2
               GROUP BY 1 ORDER BY 2 DESC LIMIT 10""",
                *bounds,
            )
        ]
        summary.examples = [
            Example(
                time=fmt(r["received_at"]),
                status=r["status"],
                operation=r["operation"],
                target=r["target"],
                detail=(r["error_detail"] or "")[:300],
            )
            for r in await conn.fetch(
                """SELECT received_at, status, operation, target, error_detail FROM activity_log
                   WHERE notify AND received_at >= $1 AND received_at <= $2 ORDER BY received_at LIMIT 5""",
                *bounds,
            )
        ]
    return summary


async def delivered(pool: asyncpg.Pool, tenant: Tenant, digest_id: uuid.UUID) -> dict[str, str]:
    """recipient -> RecipientStatus of this digest's delivery records."""
    async with tenant_transaction(pool, tenant) as conn:
        rows = await conn.fetch("SELECT recipient, status FROM notify_delivery WHERE digest_id = $1", digest_id)
    return {r["recipient"]: r["status"] for r in rows}


async def record_delivery(
    pool: asyncpg.Pool,
    tenant: Tenant,
    digest_id: uuid.UUID,
    recipient: str,
    status: RecipientStatus,
    detail: str | None = None,
) -> None:
    async with tenant_transaction(pool, tenant) as conn:
        await conn.execute(
            """INSERT INTO notify_delivery (digest_id, recipient, status, detail) VALUES ($1, $2, $3, $4)
               ON CONFLICT (digest_id, recipient) DO UPDATE SET status = excluded.status, detail = excluded.detail""",
            digest_id,
            recipient,
            status,
            detail,
        )


async def finish_digest(pool: asyncpg.Pool, tenant: Tenant, digest_id: uuid.UUID, status: DigestStatus) -> None:
    async with tenant_transaction(pool, tenant) as conn:
        await conn.execute("UPDATE notify_digest SET status = $2 WHERE id = $1", digest_id, status)


async def recent_deliveries(pool: asyncpg.Pool, tenant: Tenant, *, limit: int = 10) -> list[Delivery]:
    """The tenant's latest delivery records, newest first (the hub's notifications page)."""
    async with tenant_transaction(pool, tenant) as conn:
        rows = await conn.fetch(
            "SELECT digest_id, recipient, status, detail, created_at FROM notify_delivery "
            "ORDER BY created_at DESC LIMIT $1",
            limit,
        )
    return [Delivery(**dict(r)) for r in rows]
