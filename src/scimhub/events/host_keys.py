"""Keys of the host application: created, listed and revoked by the operator (`scimhub host-key`), found by
the web process through `public.scimhub_use_host_key` (the app login never reads a digest).

A key is `shk_` + 43 url-safe characters, shown once; a key reads every tenant, never writes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

import msgspec

from scimhub.tenancy.db import Connection, fetch_one

_SHAPE = re.compile(r"^shk_[A-Za-z0-9_-]{43}$")
MAX_LABEL = 100


class HostKey(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    hint: str
    label: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class IssuedHostKey(msgspec.Struct, frozen=True, kw_only=True):
    key: HostKey
    secret: str  # shown once


class HostKeyError(ValueError):
    pass


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def create_host_key(conn: Connection, label: str = "") -> IssuedHostKey:
    secret = "shk_" + secrets.token_urlsafe(32)
    row = await fetch_one(
        conn,
        """INSERT INTO public.host_api_key (digest, hint, label) VALUES ($1, $2, $3)
           RETURNING id, hint, label, created_at, last_used_at, revoked_at""",
        _digest(secret),
        secret[-4:],
        label.strip()[:MAX_LABEL],
    )
    return IssuedHostKey(key=HostKey(**dict(row)), secret=secret)


async def list_host_keys(conn: Connection) -> list[HostKey]:
    rows = await conn.fetch(
        "SELECT id, hint, label, created_at, last_used_at, revoked_at FROM public.host_api_key "
        "WHERE revoked_at IS NULL ORDER BY id"
    )
    return [HostKey(**dict(r)) for r in rows]


async def revoke_host_key(conn: Connection, key_id: int) -> None:
    done = await conn.execute(
        "UPDATE public.host_api_key SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", key_id
    )
    if done.split()[-1] == "0":
        raise HostKeyError(f"no usable host key {key_id}")


async def find_host_key(conn: Connection, secret: str) -> HostKey | None:
    """The unrevoked key with this secret, or None (a string of the wrong shape costs no lookup)."""
    if not _SHAPE.match(secret):
        return None
    row = await conn.fetchrow(
        "SELECT id, hint, label, created_at, last_used_at, revoked_at FROM public.scimhub_use_host_key($1)",
        _digest(secret),
    )
    return HostKey(**dict(row)) if row is not None else None
