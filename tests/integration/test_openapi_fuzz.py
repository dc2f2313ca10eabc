"""schemathesis drives a live scimhub (granian) from the OpenAPI document it serves at /schema (issue #11,
item 8): every SCIM operation, positive and negative cases, authenticated with a real tenant token.

Zero 5xx, and every 4xx is a SCIM Error body (RFC 7644 §3.12). Deterministic: derandomized Hypothesis, no
example database, `CASES` examples per operation (`len(OPERATIONS) * CASES` requests in all); `{id}` is
sometimes an existing user or group, so writes reach real rows. No assertion reads a clock.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from scimhub.http.openapi import scim_openapi
from tests.support.factories import entra_group, entra_user
from tests.support.processes import LiveServer
from tests.support.scim import ERROR
from tests.support.tenants import TenantHandle, create_tenant

CASES = 30
OPERATIONS = [
    (path, method.upper())
    for path, item in scim_openapi(200)["paths"].items()
    for method in item
    if method in {"get", "post", "put", "patch", "delete"}
]


class Target:
    def __init__(self, server: LiveServer, tenant: TenantHandle, user: str, group: str) -> None:
        self.server = server
        self.tenant = tenant
        self.ids = {"user": user, "group": group}


@pytest.fixture(scope="module")
def target(live_server: LiveServer, database: str) -> Target:
    tenant = asyncio.run(create_tenant(database))
    base = f"{live_server.url}/scim/v2/{tenant.slug}"
    with httpx.Client(headers=tenant.auth, timeout=30) as c:
        user = c.post(f"{base}/Users", json=entra_user()).json()["id"]
        group = c.post(f"{base}/Groups", json=entra_group(members=[{"value": user}])).json()["id"]
    return Target(live_server, tenant, user, group)


@pytest.fixture(scope="module")
def schema(target: Target) -> Any:
    return schemathesis.openapi.from_url(f"{target.server.url}/schema/openapi.json")


def _check(case: Any, response: Any) -> None:
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, where
    if response.status_code >= 400:
        content_type = {k.lower(): v for k, v in response.headers.items()}["content-type"]
        assert content_type[0].startswith("application/scim+json"), where  # schemathesis: header -> values
        body = response.json()
        assert body["schemas"] == [ERROR] and body["status"] == str(response.status_code), where
        assert isinstance(body.get("detail"), str) and body["detail"], where


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_the_scim_api_answers_every_generated_request_without_a_5xx(
    schema: Any, target: Target, path: str, method: str
) -> None:
    operation = schema[path][method]
    fixed = {"path_parameters": {"tenant": target.tenant.slug}, "headers": target.tenant.auth}
    cases = operation.as_strategy(GenerationMode.POSITIVE, **fixed) | operation.as_strategy(
        GenerationMode.NEGATIVE, **fixed
    )

    @settings(
        max_examples=CASES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases, existing=st.sampled_from([None, "user", "group"]))
    def run(case: Any, existing: str | None) -> None:
        if "{id}" in path and existing is not None:
            case.path_parameters["id"] = target.ids["user" if "/Users/" in path else "group"]
        case.path_parameters["tenant"] = target.tenant.slug
        response = case.call(base_url=target.server.url, headers=target.tenant.auth, timeout=30)
        _check(case, response)

    run()


def test_one_document_describes_the_admin_api_and_the_scim_api(target: Target) -> None:
    doc = httpx.get(f"{target.server.url}/schema/openapi.json", timeout=30).json()
    assert "/admin/api/activity" in doc["paths"] and "/scim/v2/{tenant}/Users/{id}" in doc["paths"]
    user = doc["components"]["schemas"]["User"]
    assert user["properties"]["userName"]["maxLength"] == 512 and user["required"] == ["userName"]
    assert doc["components"]["securitySchemes"]["scimToken"]["scheme"] == "bearer"
    assert set(doc["paths"]["/scim/v2/{tenant}/Users/{id}"]) >= {"get", "put", "patch", "delete"}
    assert httpx.get(f"{target.server.url}/schema", timeout=30).status_code == 200
