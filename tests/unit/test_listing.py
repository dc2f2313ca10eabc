"""List query parameters and the ListResponse (RFC 7644 §3.4.2) with plain values."""

from __future__ import annotations

from typing import Any

import pytest

from scimhub.scim.errors import InvalidFilter, InvalidValue
from scimhub.scim.listing import MAX_START_INDEX, ListQuery, list_response, parse_list_query, resolve_sort
from scimhub.scim.schemas import ENTERPRISE_SCHEMA, GROUP_TYPE, USER_TYPE


def query(**given: Any) -> ListQuery:
    params: dict[str, Any] = {"filter_text": None, "sort_by": None, "sort_order": None, "start_index": None}
    params["count"] = None
    params.update(given)
    return parse_list_query(**params, default_count=100, max_count=200)


def test_defaults_are_the_first_page_unsorted_ascending() -> None:
    q = query()
    assert q == ListQuery(filter=None, sort_by=None, descending=False, start_index=1, count=100)
    assert q.offset == 0


@pytest.mark.parametrize(
    ("start_index", "count", "expected"),
    [
        ("2", "2", (2, 2)),  # query-string values are strings
        (3, 10, (3, 10)),  # a SearchRequest body carries numbers (RFC 7644 §3.4.3)
        ("-3", "100000", (1, 200)),  # §3.4.2.4: below 1 reads as 1; a page above the maximum is clamped
        ("0", "-5", (1, 0)),  # count 0: totals only
        ("", "", (1, 100)),
        ("99999999999999999999", "1", (MAX_START_INDEX, 1)),  # no 500: an empty page
    ],
)
def test_start_index_and_count_are_clamped(start_index: Any, count: Any, expected: tuple[int, int]) -> None:
    q = query(start_index=start_index, count=count)
    assert (q.start_index, q.count) == expected


@pytest.mark.parametrize(
    "given",
    [
        {"count": "ten"},
        {"start_index": "1.5"},
        {"start_index": True},
        {"count": [1]},
        {"sort_order": "up"},
        {"sort_order": ""},
        {"sort_order": 1},
        {"sort_by": 5},
    ],
)
def test_unreadable_parameters_are_invalid_value(given: dict[str, Any]) -> None:
    with pytest.raises(InvalidValue):
        query(**given)


def test_a_filter_that_is_not_a_string_is_invalid_filter() -> None:
    with pytest.raises(InvalidFilter):
        query(filter_text={"userName": "x"})


@pytest.mark.parametrize(("sort_order", "descending"), [("ascending", False), ("DESCENDING", True), (None, False)])
def test_sort_order_in_any_case(sort_order: str | None, descending: bool) -> None:
    assert query(sort_by="userName", sort_order=sort_order).descending is descending


def test_sort_by_resolves_against_the_resource_type() -> None:
    q = query(sort_by="name.givenName")
    res = q.sort_attribute(USER_TYPE)
    assert res is not None and res.dotted == "name.givenName"
    dept = resolve_sort(USER_TYPE, f"{ENTERPRISE_SCHEMA}:department")
    assert dept is not None and dept.schema.id == ENTERPRISE_SCHEMA
    assert resolve_sort(USER_TYPE, None) is None
    with pytest.raises(InvalidValue):
        q.sort_attribute(GROUP_TYPE)  # groups have no name.givenName
    with pytest.raises(InvalidValue):
        resolve_sort(USER_TYPE, "a.b.c")


def test_list_response_has_all_five_members_even_when_empty() -> None:
    # Entra's Test Connection expects exactly this (contract §2.1)
    assert list_response([], total=0) == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0,
        "Resources": [],
        "startIndex": 1,
        "itemsPerPage": 0,
    }
    page = list_response([{"id": "a"}, {"id": "b"}], total=5, start_index=3)
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 3, 2)
