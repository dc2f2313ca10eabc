"""The custom-attribute registry (scim/extensions.py) is pure: resource types per tenant, the index expression
the filter compiler must reproduce, and lenient/strict reading of bodies."""

from __future__ import annotations

import pytest

from scimhub.scim.errors import InvalidSyntax, InvalidValue
from scimhub.scim.extensions import Declared, Registry, index_expression
from scimhub.scim.filter_binding import parse_bound
from scimhub.scim.resources import canonical_resource
from scimhub.scim.schemas import USER_TYPE
from scimhub.store.filter_sql import compile_filter

ACME = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"


@pytest.mark.parametrize(
    ("type_", "case_exact", "filter_text"),
    [
        ("string", False, 'cc eq "X"'),
        ("string", True, 'cc eq "X"'),
        ("integer", False, "cc gt 3"),
        ("boolean", False, "cc eq true"),
    ],
)
def test_the_index_expression_is_what_a_filter_compiles_to(type_: str, case_exact: bool, filter_text: str) -> None:
    d = Declared("User", ACME, "cc", type_, case_exact=case_exact)
    rtype = Registry((d,)).resource_type("User")
    where, _ = compile_filter(rtype, parse_bound(f"{ACME}:{filter_text}", rtype), "u")
    expr = index_expression(d)
    assert expr is not None and expr.replace("(doc->", "(u.doc->") in where


def test_the_built_in_types_are_unchanged_and_tenants_differ() -> None:
    a = Registry((Declared("User", ACME, "cc", "integer"),)).resource_type("User")
    b = Registry((Declared("User", ACME, "cc", "string"),), mode="strict").resource_type("User")
    assert USER_TYPE.extension_mode == "closed" and len(USER_TYPE.extensions) == 1
    assert canonical_resource(a, {"userName": "x", ACME: {"cc": "7"}}, [])[ACME] == {"cc": 7}
    assert canonical_resource(b, {"userName": "x", ACME: {"cc": "7"}}, [])[ACME] == {"cc": "7"}
    with pytest.raises(InvalidValue):
        canonical_resource(b, {"userName": "x", ACME: {"other": "7"}}, [])
    other = "urn:ietf:params:scim:schemas:extension:other:2.0:User"
    with pytest.raises(InvalidSyntax):
        canonical_resource(b, {"userName": "x", "schemas": [other]}, [])
    kept = canonical_resource(a, {"userName": "x", other: {"k": [1, {"a": 2}]}}, [])
    assert kept[other] == {"k": [1, {"a": 2}]}  # lenient: complex and multi-valued kept as sent


def test_paths_under_the_enterprise_extension_are_never_custom() -> None:
    from scimhub.scim.schemas import ENTERPRISE_SCHEMA, custom_urn

    assert not custom_urn(ENTERPRISE_SCHEMA) and not custom_urn(f"{ENTERPRISE_SCHEMA}:manager")
    assert custom_urn(ACME) and not custom_urn("urn:ietf:params:scim:schemas:extension:")
