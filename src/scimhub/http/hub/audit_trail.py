"""The admin audit trail: who did what, when, from where, filtered and paged, and its CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import urlencode

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream

from scimhub.admins import trail
from scimhub.admins.trail import TrailEntry, TrailFilter, TrailRejected
from scimhub.admins.vocabulary import LABELS, TrailOutcome
from scimhub.audit.csv_export import spreadsheet_safe
from scimhub.http.hub.rendering import HubError, sentence
from scimhub.http.hub.session import HubPage

PAGE_SIZE = 50
CSV_MAX_ROWS = 100_000
_CSV_CHUNK = 1000
CSV_COLUMNS = ["at", "actor_kind", "actor", "client_ip", "action", "outcome", "summary", "changes"]


def _csv_row(e: TrailEntry) -> list[str]:
    """An entry's cells, each made safe for spreadsheets by the activity export's one rule: the actor of a
    failed sign-in and parts of summaries are text a stranger typed."""
    changes = "; ".join(f"{c.field}: {c.before or '-'} -> {c.after or '-'}" for c in e.changes)
    values = [e.at.isoformat(), e.actor_kind, e.actor, e.client_ip or "", e.action, e.outcome, e.summary, changes]
    return [spreadsheet_safe(v) for v in values]


def _filter(since: str, until: str, action: str, outcome: str, actor: str) -> TrailFilter:
    try:
        return trail.parse_trail_filter(since=since, until=until, action=action, outcome=outcome, actor=actor)
    except TrailRejected as exc:
        raise HubError(400, "Bad filter", sentence(exc)) from None


@get("/{slug:str}/audit", include_in_schema=False)
async def audit_page(
    page: NamedDependency[HubPage],
    since: FromQuery[str] = "",
    until: FromQuery[str] = "",
    action: FromQuery[str] = "",
    outcome: FromQuery[str] = "",
    by: Annotated[str, QueryParameter(name="actor")] = "",
    cursor: FromQuery[str] = "",
) -> Response[str]:
    f = _filter(since, until, action, outcome, by)
    try:
        after = trail.decode_cursor(cursor)
    except TrailRejected as exc:
        raise HubError(400, "Bad page link", sentence(exc)) from None
    async with page.services.db.pool.acquire() as conn:
        items, last = await trail.list_trail(conn, page.tenant.id, f, limit=PAGE_SIZE, after=after)
    query = urlencode(
        {
            k: v
            for k, v in (("since", since), ("until", until), ("action", action), ("outcome", outcome), ("actor", by))
            if v
        }
    )
    return page.render(
        "audit.html",
        items=items,
        next_cursor=trail.encode_cursor(last),
        query=query,
        f={"since": since, "until": until, "action": action, "outcome": outcome, "actor": by},
        actions=[(a.value, label) for a, label in LABELS.items()],
        outcomes=[o.value for o in TrailOutcome],
    )


@get("/{slug:str}/audit.csv", include_in_schema=False)
async def audit_csv(
    page: NamedDependency[HubPage],
    since: FromQuery[str] = "",
    until: FromQuery[str] = "",
    action: FromQuery[str] = "",
    outcome: FromQuery[str] = "",
    by: Annotated[str, QueryParameter(name="actor")] = "",
) -> Stream:
    """The filtered trail, newest first, at most CSV_MAX_ROWS rows; cells safe to open in a spreadsheet."""
    f = _filter(since, until, action, outcome, by)

    async def rows() -> AsyncIterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(CSV_COLUMNS)
        after: tuple[dt.datetime, int] | None = None
        sent = 0
        while sent < CSV_MAX_ROWS:
            async with page.services.db.pool.acquire() as conn:
                items, last = await trail.list_trail(conn, page.tenant.id, f, limit=_CSV_CHUNK, after=after)
            writer.writerows(_csv_row(e) for e in items)
            sent += len(items)
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
            if last is None:
                break
            after = (last.at, last.id)

    name = f"admin-trail-{page.tenant.slug}-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.csv"
    return Stream(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
