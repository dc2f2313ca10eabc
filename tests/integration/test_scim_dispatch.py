"""What the SCIM dispatcher (`http/dispatch.py`) took over from Litestar's Router, answered as the Router did:
path shapes, methods, OPTIONS, slashes, and the body's size and length checks (issue #13)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from scimhub.audit import drain as audit_drain
from scimhub.http.services import Services
from tests.support.factories import entra_user
from tests.support.scim import ERROR, Scim, assert_error

NO_SHAPE = "no such SCIM endpoint; use /Users, /Groups, /Schemas, /ResourceTypes or /ServiceProviderConfig"


async def log_rows(services: Services, admin: asyncpg.Connection, scim: Scim) -> list[dict[str, Any]]:
    await services.recorder.flush()
    await audit_drain.drain_tenant(services.db.pool, scim.t.tenant)
    rows = await admin.fetch(f"SELECT * FROM {scim.t.tenant.schema}.activity_log ORDER BY received_at, event_id")
    return [dict(r) for r in rows]


@pytest.mark.parametrize(
    "path", ["/scim/v2", "/scim/v2/", "/scim/v2xyz", "/scim/v2xyz/acme/Users", "/scim/v2/a/Users/1/x"]
)
async def test_a_path_of_no_scim_shape_is_a_404_before_authentication(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    body = assert_error(r, 404)
    assert body["detail"] == NO_SHAPE
    assert "x-request-id" not in r.headers and "www-authenticate" not in r.headers  # no SCIM middleware ran


@pytest.mark.parametrize(
    ("method", "path"),
    [("HEAD", "/Users"), ("PUT", "/Users"), ("DELETE", ""), ("PATCH", "/Groups"), ("BREW", "/Users/x")],
)
async def test_a_method_the_path_has_no_handler_for_is_a_405_before_authentication(
    scim: Scim, client: httpx.AsyncClient, method: str, path: str
) -> None:
    for headers in ({}, scim.t.auth):
        r = await client.request(method, f"{scim.t.base}{path}", headers=headers)
        assert r.status_code == 405 and "x-request-id" not in r.headers
        if method != "HEAD":
            assert r.json() == {
                "schemas": [ERROR],
                "status": "405",
                "detail": f"{method} is not allowed on this SCIM endpoint",
            }


@pytest.mark.parametrize("path", ["", "/Users", "/users/", "/Groups/some-id", "/Schemas/x"])
async def test_options_answers_204_with_allow_after_authentication(
    scim: Scim, client: httpx.AsyncClient, path: str
) -> None:
    assert_error(await client.options(f"{scim.t.base}{path}"), 401)
    r = await client.options(f"{scim.t.base}{path}", headers=scim.t.auth)
    assert r.status_code == 204 and r.content == b""
    assert r.headers["allow"] == "GET, OPTIONS" and r.headers["x-request-id"]


async def test_slashes_are_normalised_and_the_log_names_the_normalised_path(
    scim: Scim, client: httpx.AsyncClient, services: Services, admin: asyncpg.Connection
) -> None:
    user = await scim.create_user()
    r = await client.get(f"/scim/v2//{scim.t.slug}//users//{user['id']}/", headers=scim.t.auth)
    assert r.status_code == 200 and r.json()["id"] == user["id"]
    r = await client.get(f"/scim/v2/{scim.t.slug}/USERS/", params={"count": "1"}, headers=scim.t.auth)
    assert r.status_code == 200 and r.json()["totalResults"] == 1
    paths = [row["path"] for row in await log_rows(services, admin, scim) if row["method"] == "GET"]
    assert paths == [f"/scim/v2/{scim.t.slug}/users/{user['id']}", f"/scim/v2/{scim.t.slug}/USERS?count=1"]


async def test_a_content_length_that_is_no_number_is_400(scim: Scim, client: httpx.AsyncClient) -> None:
    r = await client.post(f"{scim.t.base}/Users", content=b"{}", headers={**scim.t.auth, "Content-Length": "two"})
    body = assert_error(r, 400, "invalidSyntax")
    assert body["detail"] == "the request could not be processed" and r.headers["x-request-id"]


async def test_a_body_over_the_limit_is_413_whether_announced_or_streamed(
    scim: Scim, client: httpx.AsyncClient, services: Services
) -> None:
    limit = services.settings.max_body_bytes
    announced = await client.post(
        f"{scim.t.base}/Users", content=b"{}", headers={**scim.t.auth, "Content-Length": str(limit + 1)}
    )

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b" " * (limit // 2)

    streamed = await client.post(f"{scim.t.base}/Users", content=chunks(), headers=scim.t.auth)
    for r in (announced, streamed):
        assert assert_error(r, 413)["detail"] == "the request body is too large"
    fits = await scim.req("POST", "/Users", entra_user())
    assert fits.status_code == 201
