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

    @property
    def active(self) -> bool:
        return self.status == "active"
