"""Property test: the SQL filter compiler agrees with an independent in-memory evaluation.

Random filters over the full RFC 7644 §3.4.2.2 grammar run against a fixed population of users in a real
tenant schema; the ids PostgreSQL returns must equal those `scim.matching.matches` (pure Python, no SQL)
selects from the same documents.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scimhub.http.services import Services
from scimhub.scim.filter_binding import parse_bound
from scimhub.scim.matching import matches
from scimhub.scim.resources import canonical_resource
from scimhub.scim.schemas import USER_TYPE
from scimhub.store import resources as store
from scimhub.tenancy.transaction import tenant_transaction
from tests.support.factories import ENTERPRISE
from tests.support.tenants import TenantHandle, create_tenant

WORDS = ["ann", "Ann", "bob", "b_b", "c%d", "dee", "ANNA", "x.y", ""]
ATTRS = [
    "userName",
    "displayName",
    "title",
    "name.givenName",
    "name.familyName",
    "emails.value",
    "emails.type",
    f"{ENTERPRISE}:department",
    "externalId",
    "nickName",
]


def population() -> list[dict[str, Any]]:
    import random

    rng = random.Random(42)
    docs = []
    for i in range(40):

        def word() -> str | None:
            return rng.choice([*WORDS, None, None])

        body: dict[str, Any] = {"userName": f"{rng.choice(WORDS[:-1])}{i}@{rng.choice(['x', 'Y'])}.test"}
        for key in ("displayName", "title", "nickName", "externalId"):
            if (w := word()) is not None:
                body[key] = w
        if rng.random() < 0.8:
            body["active"] = rng.random() < 0.6
        name = {k: w for k in ("givenName", "familyName") if (w := word()) is not None}
        if name:
            body["name"] = name
        emails = [
            {"value": f"{rng.choice(WORDS[:-1])}@{rng.choice(['x', 'y'])}.test", "type": rng.choice(["work", "home"])}
            for _ in range(rng.randint(0, 3))
        ]
        if emails:
            body["emails"] = emails
        if (w := word()) is not None:
            body[ENTERPRISE] = {"department": w}
        docs.append(canonical_resource(USER_TYPE, body, []))
    return docs


def quoted(s: str) -> str:
    return '"' + s + '"'


values = st.sampled_from([*WORDS, "a", "B", "@x", ".test", "n", "1@"])
comparison = st.builds(
    lambda a, op, v: f"{a} {op} {quoted(v)}",
    st.sampled_from(ATTRS),
    st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]),
    values,
)
other_leaf = st.one_of(
    st.builds(lambda a: f"{a} pr", st.sampled_from([*ATTRS, "active", "emails"])),
    st.builds(lambda op, b: f"active {op} {b}", st.sampled_from(["eq", "ne"]), st.sampled_from(["true", "false"])),
    st.builds(lambda a, op: f"{a} {op} null", st.sampled_from(["title", "displayName"]), st.sampled_from(["eq", "ne"])),
    st.builds(
        lambda t, op, v: f'emails[type eq "{t}" and value {op} {quoted(v)}]',
        st.sampled_from(["work", "home"]),
        st.sampled_from(["co", "sw", "eq", "ne"]),
        values,
    ),
    st.builds(lambda v: f'emails[type eq "work"].value co {quoted(v)}', values),
)
leaf = st.one_of(comparison, other_leaf)
filters = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a}) and ({b})", inner, inner),
        st.builds(lambda a, b: f"{a} or {b}", inner, inner),
        st.builds(lambda a: f"not ({a})", inner),
    ),
    max_leaves=6,
)


class Population(tuple):  # type: ignore[type-arg]
    def __repr__(self) -> str:
        return "Population(40 users)"


@pytest.fixture(scope="module")
async def oracle_tenant(database: str, services: Services) -> tuple[TenantHandle, dict[uuid.UUID, dict[str, Any]]]:
    t = await create_tenant(database)
    docs = {uuid.uuid4(): d for d in population()}
    import datetime as dt

    async with tenant_transaction(services.db.pool, t.tenant) as conn:
        for rid, doc in docs.items():
            await store.insert(conn, USER_TYPE, rid, doc, dt.datetime.now(dt.UTC))
    return Population((t, docs))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=filters)
async def test_sql_filter_matches_the_in_memory_oracle(
    oracle_tenant: tuple[TenantHandle, dict[uuid.UUID, dict[str, Any]]], services: Services, text: str
) -> None:
    t, docs = oracle_tenant
    node = parse_bound(text, USER_TYPE)
    expected = {rid for rid, doc in docs.items() if matches(doc, node)}
    async with tenant_transaction(services.db.pool, t.tenant) as conn:
        total, rows = await store.list_page(
            conn, USER_TYPE, node, sort_by=None, descending=False, offset=0, limit=1000, related=False
        )
    got = {r.id for r in rows}
    assert got == expected, text
    assert total == len(expected)
