"""Reading the activity filter people type (hub, admin API, CLI) and the rules for recipient lists."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from scimhub.audit import chart
from scimhub.audit.activity_filter import Cursor, FilterRejected, decode_cursor, encode_cursor, parse_filter
from scimhub.audit.vocabulary import OPERATIONS, OUTCOME_FILTERS, OUTCOMES
from scimhub.tenancy.rules import SettingRejected, check_recipients, parse_recipients


def test_every_vocabulary_value_is_a_valid_filter() -> None:
    for outcome in OUTCOME_FILTERS:
        assert parse_filter(outcome=outcome).outcome == outcome
    for operation in OPERATIONS:
        assert parse_filter(operation=operation).operation == operation


@pytest.mark.parametrize(
    ("kwargs", "heading"),
    [
        ({"outcome": "bogus"}, "Bad filter"),
        ({"operation": "Create widget"}, "Bad filter"),
        ({"resource_type": "Widget"}, "Bad filter"),
        ({"since": "yesterday"}, "Bad date"),
        ({"since": "2026-11-29T10:00", "until": "2026-11-29T09:00"}, "Bad filter"),
    ],
)
def test_unusable_filter_values_are_refused_with_a_heading(kwargs: dict[str, str], heading: str) -> None:
    with pytest.raises(FilterRejected) as caught:
        parse_filter(**kwargs)
    assert caught.value.heading == heading and caught.value.message


def test_blank_values_mean_any_and_times_without_offset_are_utc() -> None:
    f = parse_filter(since="2026-11-29T10:00", outcome="", operation=" ", text="  ")
    assert f.since == dt.datetime(2026, 11, 29, 10, tzinfo=dt.UTC)
    assert (f.outcome, f.operation, f.text) == (None, None, None)


def test_cursor_round_trips_and_a_bad_one_is_a_bad_page_link() -> None:
    cursor = Cursor(dt.datetime(2026, 11, 29, 10, 0, 0, 123456, tzinfo=dt.UTC), uuid.uuid4())
    assert decode_cursor(encode_cursor(cursor)) == cursor
    with pytest.raises(FilterRejected, match="page link"):
        decode_cursor("garbage")


def test_a_list_entry_holding_two_addresses_is_refused_but_typed_text_is_split() -> None:
    assert parse_recipients("a@x.test, b@y.test") == ["a@x.test", "b@y.test"]
    with pytest.raises(SettingRejected, match="not an email address"):
        check_recipients(["a@x.test, b@y.test"])
    assert check_recipients(["a@x.test", " ", "A@x.TEST"]) == ["a@x.test"]


def test_the_chart_stacks_every_outcome_in_the_vocabulary_order() -> None:
    assert chart.ORDER == OUTCOMES and set(chart.COLOURS) == set(OUTCOMES)


@pytest.mark.parametrize("text", ["a\x00b", "\ud800"])
def test_search_text_postgresql_cannot_take_is_refused(text: str) -> None:
    with pytest.raises(FilterRejected):
        parse_filter(text=text)
