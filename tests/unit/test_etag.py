"""Entity tags and conditional requests (RFC 7232 §2.3, §3.1, §3.2; RFC 7644 §3.14) with plain values."""

from __future__ import annotations

import pytest

from scimhub.scim.errors import PreconditionFailed
from scimhub.scim.etag import check_if_match, etag, matches_any, not_modified


def test_etag_is_the_version_as_a_weak_tag() -> None:
    assert etag(1) == 'W/"1"'
    assert etag(42) == 'W/"42"'


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('W/"3"', True),
        ('"3"', True),  # RFC 7232 §2.3.2: the weak comparison ignores W/
        ('  W/"3"  ', True),
        ('W/"2", W/"3"', True),  # a list of tags
        ('"1","2" , "3"', True),
        ("*", True),  # RFC 7232 §3.1: any current representation
        ('W/"4"', False),
        ('W/"30"', False),
        ('"3 "', False),
        ("3", False),  # not quoted: not the tag
    ],
)
def test_weak_comparison_of_a_header_with_the_current_tag(header: str, expected: bool) -> None:
    assert matches_any(header, 'W/"3"') is expected


def test_if_match_with_the_current_tag_or_star_passes() -> None:
    check_if_match(None, 3, "User")  # no header: no condition
    check_if_match('W/"3"', 3, "User")
    check_if_match('"3"', 3, "User")
    check_if_match("*", 3, "User")
    check_if_match('W/"1", W/"3"', 3, "User")


def test_if_match_with_a_stale_tag_is_412_saying_what_to_do() -> None:
    with pytest.raises(PreconditionFailed) as err:
        check_if_match('W/"2"', 3, "Group")
    assert err.value.status == 412
    assert err.value.detail == (
        'the Group changed since the version you sent (W/"2"); it is now W/"3". Read it again and retry.'
    )


def test_if_none_match_names_the_current_tag_for_a_304() -> None:
    assert not_modified('W/"5"', 5)
    assert not_modified('"5"', 5)
    assert not_modified("*", 5)
    assert not_modified('W/"4", W/"5"', 5)
    assert not not_modified('W/"4"', 5)
    assert not not_modified(None, 5)
