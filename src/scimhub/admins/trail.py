"""The admin audit trail: recording an action in the caller's transaction, and reading the trail back.

What an entry holds: when, who (`Actor`: an administrator's email, an API key's label, the operator), the
client address, the action (`admins.vocabulary.AdminAction`), its outcome, a one-line summary, and what
changed as (field, before, after) strings. Callers never pass a secret: no token, password, API key or OIDC
client secret is ever a field value (their hints at most). An entry the vocabulary calls security-relevant
is marked `notice = 'pending'` and mailed to the tenant's administrators (`notify.admin_notice`).
"""

from __future__ import annotations

import datetime as dt

import asyncpg
import msgspec

from scimhub.admins.model import Actor, AdminError
from scimhub.admins.vocabulary import ACTIONS, LABELS, AdminAction, TrailOutcome, is_security_relevant
from scimhub.tenancy.db import Connection, fetch_one
from scimhub.tenancy.rules import SettingRejected, parse_time

MAX_FIELD = 300  # a before/after value is cut here (a recipient list, an issuer URL)
_CLIENT_IP = 64


class Change(msgspec.Struct, frozen=True, array_like=True):
    field: str
    before: str | None
    after: str | None


class TrailEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    at: dt.datetime
    actor_kind: str
    actor: str
    client_ip: str | None
    action: str
    action_label: str
    outcome: str
    summary: str
    changes: list[Change]


class TrailFilter(msgspec.Struct, frozen=True, kw_only=True):
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    action: str | None = None
    outcome: str | None = None
    actor: str | None = None  # a prefix of the actor's name, any case


class TrailRejected(AdminError):
    """A trail filter or page link that cannot be used; the message says what to send instead."""


def _cut(value: str | None) -> str | None:
    return value if value is None or len(value) <= MAX_FIELD else value[: MAX_FIELD - 1] + "…"


async def record(
    conn: Connection,
    tenant_id: int,
    actor: Actor,
    action: AdminAction,
    summary: str,
    *,
    outcome: TrailOutcome = TrailOutcome.SUCCESS,
    changes: list[Change] | None = None,
    switched_off: bool = False,
) -> int:
    """Add an entry (in the caller's transaction, so it is written exactly when the action is); its id."""
    notice = "pending" if is_security_relevant(action, outcome, switched_off=switched_off) else "none"
    encoded = msgspec.json.encode([Change(c.field, _cut(c.before), _cut(c.after)) for c in changes or []])
    row = await fetch_one(
        conn,
        """INSERT INTO public.admin_trail (tenant_id, actor_kind, actor, admin_id, api_key_id, client_ip, action,
               outcome, summary, changes, notice)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::jsonb, $11) RETURNING id""",
        tenant_id,
        actor.kind.value,
        actor.name[:MAX_FIELD],
        actor.admin_id,
        actor.api_key_id,
        actor.client_ip[:_CLIENT_IP] if actor.client_ip else None,
        action.value,
        outcome.value,
        summary[:MAX_FIELD],
        encoded.decode(),
        notice,
    )
    return int(row["id"])


def parse_trail_filter(
    *,
    since: str | None = None,
    until: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    actor: str | None = None,
) -> TrailFilter:
    """The filter these typed values ask for (empty means any); TrailRejected for a value that cannot be used."""

    def given(v: str | None) -> str | None:
        return v.strip() if v and v.strip() else None

    action, outcome, actor, since, until = given(action), given(outcome), given(actor), given(since), given(until)
    if action is not None and action not in ACTIONS:
        raise TrailRejected(f"unknown action {action[:40]!r}: use one of {', '.join(ACTIONS)}")
    if outcome is not None and outcome not in (o.value for o in TrailOutcome):
        raise TrailRejected(f"unknown outcome {outcome[:40]!r}: use success or refused")
    try:
        start = parse_time(since, "'since'") if since else None
        end = parse_time(until, "'until'") if until else None
    except SettingRejected as exc:
        raise TrailRejected(str(exc)) from None
    if start and end and start >= end:
        raise TrailRejected("'since' must be before 'until'")
    return TrailFilter(since=start, until=end, action=action, outcome=outcome, actor=actor and actor[:200])


def encode_cursor(entry: TrailEntry | None) -> str | None:
    return f"{entry.at.isoformat()}_{entry.id}" if entry else None


def decode_cursor(raw: str | None) -> tuple[dt.datetime, int] | None:
    if not raw:
        return None
    try:
        ts, _, eid = raw.rpartition("_")
        return dt.datetime.fromisoformat(ts), int(eid)
    except ValueError:
        raise TrailRejected("this page link is malformed; start again from the first page") from None


_COLUMNS = "id, at, actor_kind, actor, client_ip, action, outcome, summary, changes::text AS changes"


def _entry(r: asyncpg.Record) -> TrailEntry:
    return TrailEntry(
        id=r["id"],
        at=r["at"],
        actor_kind=r["actor_kind"],
        actor=r["actor"],
        client_ip=r["client_ip"],
        action=r["action"],
        action_label=_label(r["action"]),
        outcome=r["outcome"],
        summary=r["summary"],
        changes=msgspec.json.decode(r["changes"], type=list[Change]),
    )


async def list_trail(
    conn: Connection,
    tenant_id: int,
    f: TrailFilter,
    *,
    limit: int = 50,
    after: tuple[dt.datetime, int] | None = None,
) -> tuple[list[TrailEntry], TrailEntry | None]:
    """The tenant's entries matching `f`, newest first, after the cursor; and the last one when more follow."""
    like = None
    if f.actor:
        like = f.actor.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM public.admin_trail
           WHERE tenant_id = $1
             AND ($2::timestamptz IS NULL OR at >= $2) AND ($3::timestamptz IS NULL OR at < $3)
             AND ($4::text IS NULL OR action = $4) AND ($5::text IS NULL OR outcome = $5)
             AND ($6::text IS NULL OR lower(actor) LIKE lower($6))
             AND ($7::timestamptz IS NULL OR (at, id) < ($7, $8))
           ORDER BY at DESC, id DESC LIMIT $9""",  # noqa: S608 - a fixed column list
        tenant_id,
        f.since,
        f.until,
        f.action,
        f.outcome,
        like,
        after[0] if after else None,
        after[1] if after else 0,
        limit + 1,
    )
    entries = [_entry(r) for r in rows]
    more = len(entries) > limit
    entries = entries[:limit]
    return entries, entries[-1] if more else None


def _label(action: str) -> str:
    try:
        return LABELS[AdminAction(action)]
    except ValueError:
        return action


async def get_entry(conn: Connection, entry_id: int) -> tuple[int, TrailEntry] | None:
    """An entry by id with its tenant id (the notice delivery reads it), or None."""
    row = await conn.fetchrow(
        f"SELECT tenant_id, {_COLUMNS} FROM public.admin_trail WHERE id = $1",  # noqa: S608 - a fixed column list
        entry_id,
    )
    return (int(row["tenant_id"]), _entry(row)) if row else None
