"""Listing resources: the query parameters of RFC 7644 §3.4.2 and the ListResponse of §3.4.2 / §3.4.3.

`parse_list_query` reads `filter`, `sortBy`, `sortOrder`, `startIndex` and `count` once, from a query string
(GET) or a SearchRequest body (POST .search), into a `ListQuery`; every list endpoint uses it, so they all
check the same things. `list_response` builds the one ListResponse shape every list answer has (searches and
the discovery lists alike).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from scimhub.scim.errors import InvalidFilter, InvalidPath, InvalidValue
from scimhub.scim.filters import split_attr_path
from scimhub.scim.schemas import ResolvedAttr, ResourceType, resolve

LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
# A startIndex beyond any tenant's size answers an empty page; the cap keeps the OFFSET a valid bigint and
# the echoed `startIndex` a JSON number every client reads exactly (below 2**53).
MAX_START_INDEX = 2**31 - 1
_SORT_ORDERS = {"ascending": False, "descending": True}


@dataclass(frozen=True)
class ListQuery:
    """A list request as read: what to select, in which order, which page."""

    filter: str | None  # the filter text, parsed per resource type by the caller (`filters.parse_bound`)
    sort_by: str | None  # the attribute path as sent; `sort_attribute` resolves it
    descending: bool
    start_index: int  # 1-based (RFC 7644 §3.4.2.4)
    count: int  # page size, 0..the server's maximum

    @property
    def offset(self) -> int:
        return self.start_index - 1

    def sort_attribute(self, rtype: ResourceType) -> ResolvedAttr | None:
        return resolve_sort(rtype, self.sort_by)


_DIGITS = re.compile(r"\s*([+-]?)0*(\d{1,40})\s*", re.ASCII)


def _whole_number(name: str, raw: Any, default: int) -> int:
    """A query-string or SearchRequest integer: ASCII digits with an optional sign (any length: the caller
    clamps), a JSON integer, or a JSON number with no fraction (`2.0`); anything else is `invalidValue`."""
    if raw is None or raw == "":
        return default
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str):
        if m := _DIGITS.fullmatch(raw):
            return int(m.group(1) + m.group(2))
        if (digits := raw.strip().lstrip("+-")).isascii() and digits.isdigit():  # more than 40 digits
            return -(10**40) if raw.strip().startswith("-") else 10**40
    shown = raw[:40] if isinstance(raw, str) else type(raw).__name__ if isinstance(raw, list | dict) else raw
    raise InvalidValue(f"{name} must be a whole number, got {shown!r}")


def parse_list_query(
    *,
    filter_text: Any,
    sort_by: Any,
    sort_order: Any,
    start_index: Any,
    count: Any,
    default_count: int,
    max_count: int,
) -> ListQuery:
    """The list parameters as sent (strings from a query string, JSON values from a SearchRequest).

    - `startIndex` below 1 is read as 1 (RFC 7644 §3.4.2.4); above `MAX_START_INDEX` as that (an empty page).
    - `count` below 0 is read as 0 (totals only) and above `max_count` as `max_count` (§3.4.2.4: the service
      provider "MAY choose" a smaller page); absent means `default_count`.
    - `sortOrder` is `ascending` (the default) or `descending`, any case (§3.4.2.3); anything else is
      `invalidValue`, as is a `startIndex` or `count` that is not a whole number.
    - `filter` must be a string when given (§3.4.2.2); an empty one is `invalidFilter` when parsed.
    """
    if filter_text is not None and not isinstance(filter_text, str):
        raise InvalidFilter("filter must be a string")
    if sort_by is not None and not isinstance(sort_by, str):
        raise InvalidValue("sortBy must be an attribute name")
    if sort_order is None:
        descending = False
    elif isinstance(sort_order, str) and sort_order.lower() in _SORT_ORDERS:
        descending = _SORT_ORDERS[sort_order.lower()]
    else:
        raise InvalidValue("sortOrder must be 'ascending' or 'descending'")
    start = min(max(1, _whole_number("startIndex", start_index, 1)), MAX_START_INDEX)
    size = min(max(0, _whole_number("count", count, default_count)), max_count)
    return ListQuery(filter=filter_text, sort_by=sort_by or None, descending=descending, start_index=start, count=size)


def resolve_sort(rtype: ResourceType, sort_by: str | None) -> ResolvedAttr | None:
    """`sortBy` (RFC 7644 §3.4.2.3) resolved against `rtype`; None for no sorting, `invalidValue` for a name
    that is not an attribute of `rtype`."""
    if not sort_by:
        return None
    try:
        path = split_attr_path(sort_by.strip())
    except InvalidPath:
        raise InvalidValue(f"sortBy {sort_by[:80]!r} is not an attribute name") from None
    res = resolve(rtype, path.urn, path.name, path.sub)
    if res is None:
        raise InvalidValue(f"sortBy names an unknown attribute {sort_by[:80]!r}")
    return res


def list_response(resources: list[dict[str, Any]], *, total: int, start_index: int = 1) -> dict[str, Any]:
    """A ListResponse (RFC 7644 §3.4.2): always all five members, even for no hits (contract §2.1: Entra's
    Test Connection expects `totalResults: 0` and an empty `Resources`)."""
    return {
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "Resources": resources,
        "startIndex": start_index,
        "itemsPerPage": len(resources),
    }
