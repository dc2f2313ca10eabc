"""A tiny SCIM client over the in-process app for one tenant, and the check of a SCIM error answer."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.factories import entra_group, entra_user
from tests.support.tenants import TenantHandle

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


class Scim:
    def __init__(self, client: httpx.AsyncClient, t: TenantHandle) -> None:
        self.c = client
        self.t = t

    async def req(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        headers = {**self.t.auth, "Content-Type": "application/scim+json", **kw.pop("headers", {})}
        return await self.c.request(method, f"{self.t.base}{path}", json=body, headers=headers, **kw)

    async def create_user(self, **overrides: Any) -> dict[str, Any]:
        r = await self.req("POST", "/Users", entra_user(**overrides))
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def create_group(self, **overrides: Any) -> dict[str, Any]:
        r = await self.req("POST", "/Groups", entra_group(**overrides))
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def get(self, path: str, **params: str) -> dict[str, Any]:
        r = await self.req("GET", path, params=params)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def find(self, resource: str, filter_text: str, **params: str) -> dict[str, Any]:
        return await self.get(resource, filter=filter_text, **params)

    async def members(self, gid: str) -> set[str]:
        return {m["value"] for m in (await self.get(f"/Groups/{gid}")).get("members", [])}


def assert_error(r: httpx.Response, status: int, scim_type: str | None = None) -> dict[str, Any]:
    """A SCIM error (RFC 7644 §3.12): the status as a string, a detail, and `scimType` when given."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/scim+json")
    body: dict[str, Any] = r.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body.get("detail")
    if scim_type:
        assert body["scimType"] == scim_type
    return body
