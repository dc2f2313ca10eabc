"""Provisioning activity: the filtered, paged log with its chart, one entry's detail, and the CSV export."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlencode

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Stream

from scimhub.audit import chart
from scimhub.audit.activity_filter import RESOURCE_TYPES, ActivityFilter, Cursor, encode_cursor
from scimhub.audit.csv_export import csv_text
from scimhub.audit.queries import activity_histogram_rollup, get_entry, list_activity
from scimhub.audit.vocabulary import OPERATIONS, OUTCOME_FILTERS, OUTCOME_LABELS
from scimhub.http.activity_params import ActivityQuery
from scimhub.http.hub.rendering import HubError
from scimhub.http.hub.session import HubPage
from scimhub.tenancy.transaction import tenant_transaction

PAGE_SIZE = 50
CHART_DEFAULT_SPAN = dt.timedelta(hours=24)
CSV_MAX_ROWS = 100_000
_CSV_CHUNK = 1000
_OUTCOME_OPTIONS = [(o, OUTCOME_LABELS.get(o, o)) for o in OUTCOME_FILTERS]


def _input_time(ts: dt.datetime | None) -> str:
    """The value of a `datetime-local` field."""
    return ts.strftime("%Y-%m-%dT%H:%M") if ts else ""


def filter_query(f: ActivityFilter) -> str:
    """The filter as a query string, for links that keep it (paging, CSV)."""
    q = {
        "since": _input_time(f.since),
        "until": _input_time(f.until),
        "outcome": f.outcome or "",
        "operation": f.operation or "",
        "type": f.resource_type or "",
        "q": f.text or "",
    }
    return urlencode({k: v for k, v in q.items() if v})


@get("/{slug:str}/activity", include_in_schema=False)
async def activity_page(page: NamedDependency[HubPage], activity: NamedDependency[ActivityQuery]) -> Response[str]:
    f = activity.filter
    until = f.until or dt.datetime.now(dt.UTC)
    since = f.since or (until - CHART_DEFAULT_SPAN)
    bucket = chart.bucket_for(since, until)
    async with tenant_transaction(page.services.db.pool, page.tenant) as conn:
        items, next_cursor = await list_activity(conn, f, limit=PAGE_SIZE, after=activity.after)
        counts = await activity_histogram_rollup(conn, since, until, f.outcome)
    query = filter_query(f)
    return page.render(
        "activity.html",
        items=items,
        next_cursor=encode_cursor(next_cursor),
        query=query,
        f=f,
        since_input=_input_time(f.since),
        until_input=_input_time(f.until),
        filtered=bool(query),
        outcomes=_OUTCOME_OPTIONS,
        operations=OPERATIONS,
        resource_types=RESOURCE_TYPES,
        chart=chart.render_svg(chart.series(counts, since, until, bucket), bucket),
        bucket=bucket,
        chart_range=f"{since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M}",
        colours=[(o, chart.COLOURS[o]) for o in chart.ORDER],
    )


@get("/{slug:str}/activity/{event_id:str}", include_in_schema=False)
async def activity_entry(page: NamedDependency[HubPage], event_id: FromPath[str]) -> Response[str]:
    try:
        eid = uuid.UUID(event_id)
    except ValueError:
        raise HubError(404, "Not found", "There is no such activity entry.") from None
    async with tenant_transaction(page.services.db.pool, page.tenant) as conn:
        entry = await get_entry(conn, eid)
    if entry is None:
        raise HubError(404, "Not found", "There is no such activity entry.")
    return page.render("entry.html", nav="activity", e=entry)


@get("/{slug:str}/activity.csv", include_in_schema=False)
async def activity_csv(page: NamedDependency[HubPage], activity: NamedDependency[ActivityQuery]) -> Stream:
    """The filtered log (from the newest entry, whatever the page link), at most CSV_MAX_ROWS rows."""

    async def rows() -> AsyncIterator[str]:
        cursor: Cursor | None = None
        sent = 0
        while sent < CSV_MAX_ROWS:
            async with tenant_transaction(page.services.db.pool, page.tenant) as conn:
                items, cursor = await list_activity(conn, activity.filter, limit=_CSV_CHUNK, after=cursor)
            yield csv_text(items, header=sent == 0)  # cells made safe for spreadsheets (audit.csv_export)
            sent += len(items)
            if cursor is None:
                break

    name = f"activity-{page.tenant.slug}-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.csv"
    return Stream(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
