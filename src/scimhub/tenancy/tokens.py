"""Secret tokens: 256-bit random, stored only as SHA-256 digests, shown once.

A token is `shs_` + 43 url-safe characters. The prefix lets secret scanners (and people) recognise a leaked
scimhub token; the hint kept for the admin hub is the last four characters only.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "shs_"  # noqa: S105 - a prefix, not a secret


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def token_hint(token: str) -> str:
    return "…" + token[-4:]
