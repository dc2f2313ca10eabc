"""Tenants for tests: created as the CLI creates them, found through the tenant directory."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from scimhub.tenancy import directory, tenants
from scimhub.tenancy.db import admin_connect, read_install_id
from scimhub.tenancy.model import Tenant
from tests.support.settings import PUBLIC_URL


@dataclass
class TenantHandle:
    slug: str
    token: str
    tenant: Tenant
    scim_url: str

    @property
    def base(self) -> str:
        """The SCIM base path as the in-process client sees it."""
        return f"/scim/v2/{self.slug}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def create_tenant(database: str, slug: str | None = None, **kwargs: Any) -> TenantHandle:
    """A new tenant (keyword arguments go to `tenants.create_tenant`) with its first token."""
    slug = slug or f"t-{secrets.token_hex(4)}"
    conn = await admin_connect(database)
    try:
        issued = await tenants.create_tenant(conn, slug, public_url=PUBLIC_URL, **kwargs)
        tenant = await directory.find_tenant(conn, await read_install_id(conn), slug)
    finally:
        await conn.close()
    assert tenant is not None
    return TenantHandle(slug, issued.token, tenant, issued.scim_url)
