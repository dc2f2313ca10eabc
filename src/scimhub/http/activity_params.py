"""The activity log's query parameters, read once for the hub's activity pages and the admin API.

`since`, `until` (ISO 8601, UTC unless an offset is given), `outcome`, `operation`, `type` (User or Group),
`q` (userName/displayName prefix, resource id or request id) and `cursor` (the next page's link value).
A value that cannot be used raises `FilterRejected` (see `audit.activity_filter`); each router turns it into
its own 400 (an error page, a JSON body).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar.di import Provide
from litestar.params import FromQuery, QueryParameter

from scimhub.audit.activity_filter import RESOURCE_TYPES, ActivityFilter, Cursor, decode_cursor, parse_filter
from scimhub.audit.vocabulary import OPERATIONS, OUTCOME_FILTERS


class ActivityQuery(msgspec.Struct, frozen=True):
    filter: ActivityFilter
    after: Cursor | None  # the page after this cursor (None: the newest page)


def _activity_query(
    since: FromQuery[str | None] = None,
    until: FromQuery[str | None] = None,
    outcome: Annotated[str | None, QueryParameter(description=f"one of: {', '.join(OUTCOME_FILTERS)}")] = None,
    operation: Annotated[str | None, QueryParameter(description=f"one of: {', '.join(OPERATIONS)}")] = None,
    resource_type: Annotated[
        str | None, QueryParameter(name="type", description=f"one of: {', '.join(RESOURCE_TYPES)}")
    ] = None,
    resource_type_long: Annotated[str | None, QueryParameter(name="resource_type", include_in_schema=False)] = None,
    q: Annotated[str | None, QueryParameter(description="a userName/displayName prefix, or an id")] = None,
    cursor: Annotated[str | None, QueryParameter(description="next_cursor of the previous page")] = None,
) -> ActivityQuery:
    f = parse_filter(
        since=since,
        until=until,
        outcome=outcome,
        operation=operation,
        resource_type=resource_type or resource_type_long,
        text=q,
    )
    return ActivityQuery(f, decode_cursor(cursor))


# For `activity: NamedDependency[ActivityQuery]`.
provide_activity_query = Provide(_activity_query, sync_to_thread=False)
