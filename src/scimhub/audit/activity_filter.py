"""The activity log's filter and page cursor, and reading them from what a person typed.

One rule for the hub's query string, the admin API's query parameters and the CLI's options: outcomes and
operations come from `audit.vocabulary`, resource types from the SCIM schema registry, times follow
`tenancy.rules.parse_time`. Anything else is refused with `FilterRejected`, whose message says what to send
instead; each caller shows it its own way (an error page, a 400, one CLI line).
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec

from scimhub.audit.vocabulary import OPERATIONS, OUTCOME_FILTERS
from scimhub.scim.characters import unstorable
from scimhub.scim.schemas import RESOURCE_TYPES as _SCIM_RESOURCE_TYPES
from scimhub.tenancy.rules import SettingRejected, parse_time

RESOURCE_TYPES: tuple[str, ...] = tuple(_SCIM_RESOURCE_TYPES)  # "User", "Group"


class ActivityFilter(msgspec.Struct, kw_only=True, frozen=True):
    """Which entries of the activity log to read (`audit.queries.list_activity`); None means any."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    outcome: str | None = None  # one of vocabulary.OUTCOME_FILTERS ("problems": everything but success)
    operation: str | None = None  # one of vocabulary.OPERATIONS
    resource_type: str | None = None  # one of RESOURCE_TYPES
    text: str | None = None  # userName / displayName prefix, or a resource id, or a request id


class Cursor(msgspec.Struct, frozen=True):
    """Where the next page starts: the last entry of this one (keyset paging, newest first)."""

    received_at: dt.datetime
    event_id: uuid.UUID


class FilterRejected(ValueError):
    """A filter value or page link that cannot be used; `heading` names the field in a few words."""

    def __init__(self, heading: str, message: str) -> None:
        super().__init__(message)
        self.heading, self.message = heading, message


def _given(value: str | None) -> str | None:
    return value if value and value.strip() else None


def _one_of(value: str | None, allowed: tuple[str, ...], what: str) -> str | None:
    value = _given(value)
    if value is not None and value not in allowed:
        raise FilterRejected("Bad filter", f"Unknown {what} {value[:40]!r}: use one of {', '.join(allowed)}.")
    return value


def _time(value: str | None, name: str) -> dt.datetime | None:
    value = _given(value)
    if value is None:
        return None
    try:
        return parse_time(value, f"'{name}'")
    except SettingRejected as exc:
        raise FilterRejected("Bad date", str(exc)) from None


def parse_filter(
    *,
    since: str | None = None,
    until: str | None = None,
    outcome: str | None = None,
    operation: str | None = None,
    resource_type: str | None = None,
    text: str | None = None,
) -> ActivityFilter:
    """The filter these values ask for; empty values mean "any"."""
    outcome = _one_of(outcome, OUTCOME_FILTERS, "outcome")
    operation = _one_of(operation, OPERATIONS, "operation")
    resource_type = _one_of(resource_type, RESOURCE_TYPES, "resource type")
    start, end = _time(since, "since"), _time(until, "until")
    if start and end and start >= end:
        raise FilterRejected("Bad filter", "'From' (since) must be before 'To' (until).")
    if text and unstorable(text):  # NUL or a lone surrogate: PostgreSQL refuses it as a parameter (a 500)
        raise FilterRejected("Bad filter", "The search text holds a character no entry can hold; remove it.")
    return ActivityFilter(
        since=start, until=end, outcome=outcome, operation=operation, resource_type=resource_type, text=_given(text)
    )


def encode_cursor(cursor: Cursor | None) -> str | None:
    """The next page's link value (put it into a URL query-encoded: it holds a `+`)."""
    return f"{cursor.received_at.isoformat()}_{cursor.event_id}" if cursor else None


def decode_cursor(raw: str | None) -> Cursor | None:
    if not raw:
        return None
    try:
        ts, _, eid = raw.rpartition("_")
        return Cursor(dt.datetime.fromisoformat(ts), uuid.UUID(eid))
    except ValueError:
        raise FilterRejected("Bad page link", "This page link is malformed; start again from the first page.") from None
