"""What a use case needs: the pool, the tenant, where its resources live, the limits, and the audit sink."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
import msgspec

from scimhub.audit.vocabulary import Operation
from scimhub.events.changes import Change
from scimhub.events.changes import encode as encode_changes
from scimhub.provisioning.extensions import RegistryCache
from scimhub.provisioning.snapshots import Snapshots
from scimhub.store.resources import Row
from scimhub.tenancy.model import Tenant


class WriteAudit(Protocol):
    """Builds a write's activity event (JSON text); the store writes it in the write's own statement."""

    def __call__(self, outcome: Outcome) -> str: ...


@dataclass(frozen=True)
class Limits:
    max_page_size: int = 200
    default_page_size: int = 100
    max_patch_operations: int = 1000
    max_filter_length: int = 4096


class Outcome(msgspec.Struct):
    """What a use case did: the HTTP-free answer plus what the activity log records."""

    status: int
    operation: Operation
    body: dict[str, Any] | None = None
    etag: str | None = None
    location: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    target: str | None = None  # userName / displayName the administrator recognises
    changed: list[str] = []  # msgspec copies an empty default per instance
    rewrites: list[str] = []
    results: int | None = None
    audited: bool = False  # the event was written in the write's own transaction


@dataclass(frozen=True)
class ScimContext:
    pool: asyncpg.Pool
    tenant: Tenant
    base_url: str  # the Tenant URL: {public}/scim/v2/{slug}
    limits: Limits = Limits()
    audit: WriteAudit | None = None
    # Return 200 + the resource for PATCH on users (Okta, `Prefer: return=representation`).
    patch_returns_resource: bool = False
    request_id: str | None = None  # carried by the change events (`events.changes`)
    # The web process's cache of tenants' custom-attribute registries (issue #12); None: not cached.
    schemas: RegistryCache | None = None
    # The web process's last-read users, for a PATCH to start from (`provisioning.snapshots`); None: none kept.
    snapshots: Snapshots | None = None

    def keep_snapshot(self, resource_type: str, row: Row) -> None:
        """A user as this request read or wrote it, for its next PATCH to start from (`provisioning.snapshots`;
        groups are not kept)."""
        if self.snapshots is not None and resource_type == "User":
            self.snapshots.keep(self.tenant.id, row)

    def take_snapshot(self, rid: uuid.UUID) -> Row | None:
        """The user kept by `keep_snapshot`, taken out (a PATCH uses it once), or None."""
        return self.snapshots.take(self.tenant.id, rid) if self.snapshots is not None else None

    def location(self, resource_type: str, rid: str) -> str:
        return f"{self.base_url}/{'Users' if resource_type == 'User' else 'Groups'}/{rid}"

    def write_event(self, outcome: Outcome) -> str | None:
        """The write's activity event, for the store to write in the write's own statement (None: no log)."""
        return self.audit(outcome) if self.audit is not None else None

    def changes(self, items: list[Change], now: dt.datetime) -> str | None:
        """The write's change events, for the store to write in the write's own statement (None: nothing)."""
        return encode_changes(items, now, self.request_id)
