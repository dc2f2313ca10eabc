"""The tenant value passed through every layer."""

from __future__ import annotations

import msgspec


class Tenant(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    slug: str
    schema: str
    role: str
    status: str = "active"
    keep_write_bodies: bool = False
    rate_limit: int | None = None  # requests per rate-limit window; None: the installation's default

    @property
    def active(self) -> bool:
        return self.status == "active"
