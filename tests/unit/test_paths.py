"""PATCH paths (RFC 7644 §3.5.2) are read by the filter grammar's own parser; properties that the two agree."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scimhub.scim.errors import InvalidFilter, InvalidPath
from scimhub.scim.filter_binding import bind
from scimhub.scim.filters import And, AttrPath, Compare, PathExpr, Present, ValuePath, parse_filter, parse_path
from scimhub.scim.quirks import parse_target
from scimhub.scim.schemas import ENTERPRISE_SCHEMA, USER_SCHEMA, USER_TYPE, Attribute

ENT = ENTERPRISE_SCHEMA


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("userName", PathExpr(AttrPath(None, "userName"))),
        ("name.givenName", PathExpr(AttrPath(None, "name", "givenName"))),
        (f"{ENT}:manager", PathExpr(AttrPath(ENT, "manager"))),
        (
            'members[value eq "2819c223"]',
            PathExpr(AttrPath(None, "members"), Compare(AttrPath(None, "value"), "eq", "2819c223")),
        ),
        (
            'emails[type eq "work"].value',
            PathExpr(AttrPath(None, "emails"), Compare(AttrPath(None, "type"), "eq", "work"), "value"),
        ),
        (
            # RFC 7644 §3.5.2 example: addresses[type eq "work"].streetAddress
            'addresses[type eq "work" and primary eq true].streetAddress',
            PathExpr(
                AttrPath(None, "addresses"),
                And(Compare(AttrPath(None, "type"), "eq", "work"), Compare(AttrPath(None, "primary"), "eq", True)),
                "streetAddress",
            ),
        ),
        ('members[value eq "a]b"]', PathExpr(AttrPath(None, "members"), Compare(AttrPath(None, "value"), "eq", "a]b"))),
    ],
)
def test_rfc_path_forms(text: str, expected: PathExpr) -> None:
    assert parse_path(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a[b",
        'emails[type eq "work"',
        'emails[type eq "work"]x',
        "name.givenName[type eq 1]",
        "a b",
        "a..b",
        "1x",
        "@",
    ],
)
def test_malformed_paths_are_invalid_path(text: str) -> None:
    with pytest.raises(InvalidFilter):
        parse_path(text)
    with pytest.raises(InvalidPath):
        parse_target(USER_TYPE, text)


def test_a_value_filter_may_follow_single_valued_manager() -> None:
    target = parse_target(USER_TYPE, 'manager[value eq "m1"]')
    assert target.res.attr.name == "manager" and target.res.schema.id == ENT
    assert target.filter is not None and target.filter.path.resolved is not None  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------- properties


def _cased(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.lower(), name.upper()])


def _attributes() -> list[tuple[str | None, Attribute]]:
    from scimhub.scim.schemas import COMMON, ENTERPRISE_USER, USER

    return [(None, a) for a in (*COMMON, *USER.attributes)] + [(ENT, a) for a in ENTERPRISE_USER.attributes]


@st.composite
def attr_paths(draw: st.DrawFn) -> str:
    """`[urn:]name[.sub]` for any attribute of a User, in any case."""
    urn, attr = draw(st.sampled_from(_attributes()))
    text = draw(_cased(attr.name))
    if bool(attr.sub_attributes) and draw(st.booleans()):
        text += "." + draw(_cased(draw(st.sampled_from(attr.sub_attributes)).name))
    if draw(st.booleans()):  # URN-qualified (RFC 7644 §3.10), or not (Entra's legacy `manager`)
        text = f"{urn or USER_SCHEMA}:{text}"
    return text


_MULTI = [a for _, a in _attributes() if a.multi_valued and a.type == "complex"]


@st.composite
def value_paths(draw: st.DrawFn) -> str:
    """`attr[filter]` or `attr[filter].sub` over a multi-valued complex attribute of a User."""
    attr = draw(st.sampled_from(_MULTI))
    subs = [s for s in attr.sub_attributes if s.type != "boolean"]

    def leaf() -> st.SearchStrategy[str]:
        return st.one_of(
            st.builds(
                lambda s, op, v: f'{s} {op} "{v}"',
                st.sampled_from([s.name for s in subs]),
                st.sampled_from(["eq", "ne", "co", "sw"]),
                st.sampled_from(["work", "a]b", 'x\\"y', ""]),
            ),
            st.builds(lambda s: f"{s} pr", st.sampled_from([s.name for s in attr.sub_attributes])),
        )

    inner = draw(
        st.recursive(
            leaf(),
            lambda f: st.one_of(
                st.builds(lambda a, b: f"{a} and {b}", f, f),
                st.builds(lambda a, b: f"({a}) or ({b})", f, f),
                st.builds(lambda a: f"not ({a})", f),
            ),
            max_leaves=4,
        )
    )
    text = f"{draw(_cased(attr.name))}[{inner}]"
    if draw(st.booleans()):
        text += "." + draw(st.sampled_from(attr.sub_attributes)).name
    return text


@given(text=st.one_of(attr_paths(), value_paths()))
def test_path_parser_and_filter_parser_read_a_path_alike(text: str) -> None:
    expr = parse_path(text)
    if expr.filter is None:
        assert parse_filter(f"{text} pr") == Present(expr.attr)
    elif expr.sub is None:
        assert parse_filter(text) == ValuePath(expr.attr, expr.filter)
    else:
        assert parse_filter(f"{text} pr") == ValuePath(expr.attr, And(expr.filter, Present(AttrPath(None, expr.sub))))


@given(text=st.one_of(attr_paths(), value_paths()))
def test_patch_target_and_bound_filter_name_the_same_attribute(text: str) -> None:
    target = parse_target(USER_TYPE, text)
    expr = parse_path(text)
    if expr.filter is None:
        node = parse_filter(f"{text} pr")
        assert isinstance(node, Present)
        try:
            bound = bind(node, USER_TYPE)
        except InvalidFilter:
            return  # not filterable (password, a complex attribute without `value`): nothing to compare
        assert isinstance(bound, Present) and bound.path.resolved is not None
        assert (bound.path.resolved.schema, bound.path.resolved.attr) == (target.res.schema, target.res.attr)
        if target.res.sub is not None:
            assert bound.path.resolved.sub == target.res.sub
        return
    bound_vp = bind(parse_filter(text if expr.sub is None else f"{text} pr"), USER_TYPE)
    assert isinstance(bound_vp, ValuePath) and bound_vp.path.resolved is not None
    assert bound_vp.path.resolved.attr == target.res.attr
    if expr.sub is None:
        assert bound_vp.filter == target.filter
    else:
        assert isinstance(bound_vp.filter, And) and bound_vp.filter.left == target.filter
        leaf = bound_vp.filter.right
        assert isinstance(leaf, Present) and leaf.path.resolved is not None
        assert leaf.path.resolved.sub == target.res.sub


@given(text=st.text(alphabet='ab.:[]" =eqnorpt()\\1', max_size=30))
def test_any_text_is_a_path_or_a_clear_error(text: str) -> None:
    with contextlib.suppress(InvalidFilter):
        parse_path(text)
    with contextlib.suppress(InvalidPath):
        parse_target(USER_TYPE, text)
