"""Fuzzing the pure protocol layer (issue #11, item 8): whatever a client sends, only SCIM errors come out.

Hypothesis feeds arbitrary JSON, filter texts, PATCH operations and paths to what reads client input
(`canonical_resource`, `normalise_patch` + `apply_patch`, `parse_filter` / `bind` and what walks a bound tree,
`parse_path`, `parse_projection` / `apply_projection`, `parse_list_query`, the activity log's redaction).
Deterministic: `derandomize=True`, no example database, a fixed number of examples per property (the
`EXAMPLES` figures, summed in `FUZZ_CASES`). The work of one example is bounded by construction (sizes capped
in the strategies), and no assertion reads a clock.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from scimhub.audit.events import redact_body, redact_path
from scimhub.scim.errors import ScimError
from scimhub.scim.filter_binding import bind
from scimhub.scim.filters import parse_filter, parse_path
from scimhub.scim.listing import parse_list_query
from scimhub.scim.matching import matches
from scimhub.scim.patch import apply_patch
from scimhub.scim.projection import apply_projection, parse_projection
from scimhub.scim.quirks import normalise_patch
from scimhub.scim.quirks import parse_target as parse_patch_path
from scimhub.scim.resources import canonical_resource
from scimhub.scim.schemas import ALL_SCHEMAS, ENTERPRISE_SCHEMA, GROUP_TYPE, USER_TYPE, ResourceType
from scimhub.store.filter_sql import compile_filter

EXAMPLES = {
    "canonical_resource": 400,
    "patch": 600,
    "filter_text": 500,
    "filter_tokens": 500,
    "paths": 400,
    "projection": 200,
    "list_query": 300,
    "redaction": 300,
}
FUZZ_CASES = sum(EXAMPLES.values())  # 3,200 examples, every run the same


def fuzz(name: str) -> settings:
    return settings(
        max_examples=EXAMPLES[name],
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# ------------------------------------------------------------------------------------------------ strategies

_NAMES = sorted(
    {a.name for s in ALL_SCHEMAS for a in s.attributes}
    | {sub.name for s in ALL_SCHEMAS for a in s.attributes for sub in a.sub_attributes}
    | {s.id for s in ALL_SCHEMAS}
    | {f"{s.id}:{a.name}" for s in ALL_SCHEMAS for a in s.attributes}
    | {"schemas", "Operations", "op", "path", "value", "id", "meta", "members", "password", "nosuch"}
)
_KEYS = st.one_of(
    st.sampled_from(_NAMES),
    st.sampled_from(_NAMES).map(str.upper),
    st.text(max_size=12),
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["True", "false", "work", "2026-11-30T10:00:00Z", "00000000-0000-0000-0000-000000000000"]),
)
JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_KEYS, inner, max_size=6),
    max_leaves=30,
)
_RTYPES = st.sampled_from([USER_TYPE, GROUP_TYPE])

_ATTR_PATHS = st.one_of(
    st.sampled_from(_NAMES),
    st.builds(lambda a, b: f"{a}.{b}", st.sampled_from(_NAMES), st.sampled_from(_NAMES)),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzA:._-$", min_size=1, max_size=20),
)
_FILTER_TOKENS = st.one_of(
    _ATTR_PATHS,
    st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "and", "or", "not", "EQ", "Or"]),
    st.sampled_from(["(", ")", "[", "]", ".", '"', "true", "false", "null", "1", "-2.5e3", "1e999", "9" * 30]),
    st.text(max_size=10).map(json.dumps),  # a quoted string, escapes included
    st.sampled_from(['"\\u0000"', '"\\ud800"', '"\\ud83d\\ude00"', '"a\\"b"', '"\\\\"']),
)
FILTER_TEXT = st.lists(_FILTER_TOKENS, min_size=1, max_size=25).map(" ".join)
ANY_TEXT = st.text(max_size=80)


_FULL_USER = {
    "userName": "u@x.test",
    "active": True,
    "displayName": "U",
    "name": {"givenName": "G", "familyName": "F"},
    "emails": [{"value": "a@x.test", "type": "work", "primary": True}, {"value": "b@x.test", "type": "home"}],
    "addresses": [{"type": "work", "locality": "Oslo"}],
    "phoneNumbers": [{"value": "+1", "type": "mobile"}],
    ENTERPRISE_SCHEMA: {"department": "Sales", "manager": {"value": "m1"}},
}


def _canonical(rtype: ResourceType, body: Any) -> dict[str, Any]:
    """A stored document to patch: the fuzzed body when it is a valid resource, else a full one."""
    try:
        return canonical_resource(rtype, body, [])
    except ScimError:
        return canonical_resource(rtype, _FULL_USER if rtype is USER_TYPE else {"displayName": "g"}, [])


# ---------------------------------------------------------------------------------------------- properties


@fuzz("canonical_resource")
@given(rtype=_RTYPES, body=JSON)
def test_canonical_resource_raises_only_scim_errors(rtype: ResourceType, body: Any) -> None:
    try:
        doc = canonical_resource(rtype, body, [])
    except ScimError:
        return
    json.dumps(doc)  # what is stored is JSON
    assert "password" not in json.dumps(doc).lower().replace("passwordhint", "")


_KNOWN_PATHS = st.sampled_from(
    [
        "emails",
        'emails[type eq "work"]',
        'emails[type eq "work"].value',
        'emails[value co "@" and not (primary eq true)].display',
        "name.givenName",
        "name",
        "members",
        'members[value eq "00000000-0000-0000-0000-000000000000"]',
        'members[type eq "Group"]',
        "manager",
        f"{ENTERPRISE_SCHEMA}:manager",
        f'{ENTERPRISE_SCHEMA}:manager[value eq "x"]',
        f"{ENTERPRISE_SCHEMA}:department",
        ENTERPRISE_SCHEMA,
        "active",
        'addresses[type eq "work"].locality',
        "phoneNumbers",
        "groups",
        "id",
        "meta.created",
        "displayName",
        "userName",
        "externalId",
        "urn:ietf:params:scim:schemas:core:2.0:User:title",
        "roles",
        "x509Certificates[value pr]",
    ]
)
_VALUES = st.one_of(
    JSON,
    st.lists(
        st.fixed_dictionaries(
            {"value": st.sampled_from(["00000000-0000-0000-0000-000000000000", "a@x.test"])},
            optional={"type": st.sampled_from(["work", "User", "Group"]), "primary": JSON},
        ),
        max_size=4,
    ),
    st.dictionaries(st.sampled_from(_NAMES), JSON, max_size=4),
)
_OP_NAMES = st.sampled_from(["add", "replace", "remove", "Add", "Replace", "Remove"])
_PATHS_IN_PATCH = (
    _KNOWN_PATHS | _ATTR_PATHS | FILTER_TEXT | st.builds(lambda a, f: f"{a}[{f}]", _ATTR_PATHS, FILTER_TEXT)
)
_OPS = st.one_of(
    st.fixed_dictionaries({"op": _OP_NAMES, "path": _KNOWN_PATHS, "value": _VALUES}),
    st.fixed_dictionaries({"op": _OP_NAMES, "path": _KNOWN_PATHS, "value": _VALUES}),
    st.fixed_dictionaries({"op": _OP_NAMES, "value": _VALUES}),
    st.fixed_dictionaries({"op": _OP_NAMES}, optional={"path": _PATHS_IN_PATCH | _SCALARS, "value": _VALUES}),
    st.dictionaries(_KEYS, JSON, max_size=4),
)
_STRUCTURED_PATCH = st.builds(
    lambda ops: {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops},
    st.lists(_OPS, min_size=1, max_size=3),
)
PATCH_BODY = st.one_of(_STRUCTURED_PATCH, _STRUCTURED_PATCH, _STRUCTURED_PATCH, JSON)


@fuzz("patch")
@given(rtype=_RTYPES, body=PATCH_BODY, start=JSON)
def test_normalise_and_apply_patch_raise_only_scim_errors(rtype: ResourceType, body: Any, start: Any) -> None:
    doc = _canonical(rtype, start)
    before = json.dumps(doc, sort_keys=True)
    try:
        ops, rewrites = normalise_patch(rtype, body, max_operations=50)
        new, changed, _ = apply_patch(rtype, doc, ops, rewrites)
    except ScimError as exc:
        event(f"refused: {type(exc).__name__}")
        assert json.dumps(doc, sort_keys=True) == before  # all or nothing: the input is never touched
        return
    event("applied")
    assert json.dumps(doc, sort_keys=True) == before
    json.dumps(new)
    assert all(isinstance(c, str) for c in changed) and len(rewrites) <= 51


def _walk_filter(text: str) -> None:
    """Parse, bind for both types, and run what reads a bound tree: the SQL compiler and the matcher."""
    try:
        node = parse_filter(text)
    except ScimError:
        return
    for rtype in (USER_TYPE, GROUP_TYPE):
        try:
            bound = bind(node, rtype)
            compile_filter(rtype, bound, "u")
            matches({"userName": "u", "emails": [{"value": "a", "type": "work"}], "active": True}, bound)
        except ScimError:
            continue


@fuzz("filter_text")
@given(text=ANY_TEXT)
def test_arbitrary_filter_text_raises_only_scim_errors(text: str) -> None:
    _walk_filter(text)


@fuzz("filter_tokens")
@given(text=FILTER_TEXT)
def test_filter_shaped_text_raises_only_scim_errors(text: str) -> None:
    _walk_filter(text)


@fuzz("paths")
@given(
    rtype=_RTYPES,
    text=_ATTR_PATHS | FILTER_TEXT | ANY_TEXT | st.builds(lambda a, f: f"{a}[{f}]", _ATTR_PATHS, FILTER_TEXT),
)
def test_paths_raise_only_scim_errors(rtype: ResourceType, text: str) -> None:
    with contextlib.suppress(ScimError):
        parse_path(text)
    with contextlib.suppress(ScimError):
        parse_patch_path(rtype, text)


@fuzz("projection")
@given(rtype=_RTYPES, attributes=JSON | _ATTR_PATHS, excluded=JSON | _ATTR_PATHS, start=JSON)
def test_projection_raises_only_scim_errors(rtype: ResourceType, attributes: Any, excluded: Any, start: Any) -> None:
    doc = {"schemas": [rtype.schema.id], "id": "x", **_canonical(rtype, start)}
    try:
        proj = parse_projection(rtype, attributes, excluded)
    except ScimError:
        return
    out = apply_projection(doc, rtype, proj)
    assert out["id"] == "x" and out["schemas"] == [rtype.schema.id]


@fuzz("list_query")
@given(filter_text=JSON, sort_by=JSON, sort_order=JSON, start_index=JSON, count=JSON)
def test_list_query_raises_only_scim_errors(
    filter_text: Any, sort_by: Any, sort_order: Any, start_index: Any, count: Any
) -> None:
    try:
        q = parse_list_query(
            filter_text=filter_text,
            sort_by=sort_by,
            sort_order=sort_order,
            start_index=start_index,
            count=count,
            default_count=100,
            max_count=200,
        )
    except ScimError:
        return
    assert 1 <= q.start_index <= 2**31 - 1 and 0 <= q.count <= 200
    for rtype in (USER_TYPE, GROUP_TYPE):
        with contextlib.suppress(ScimError):
            q.sort_attribute(rtype)


@fuzz("redaction")
@given(body=JSON, secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=12, max_size=16))
def test_redaction_never_fails_and_never_keeps_a_password(body: Any, secret: str) -> None:
    """Any body, with a password planted as a key, as a PATCH path, and in an extension: kept without it."""
    assume(secret not in json.dumps(body))
    planted = {
        "x": body,
        "password": secret,
        ENTERPRISE_SCHEMA: {"PASSWORD": secret},
        "Operations": [
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:password", "value": secret}
        ],
    }
    kept = redact_body(json.dumps(planted).encode())
    assert kept is not None and secret not in kept
    redact_body(json.dumps(body).encode())
    assert secret not in redact_path(f'/scim/v2/t/Users?filter=password eq "{secret}"')
