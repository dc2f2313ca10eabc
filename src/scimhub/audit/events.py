"""Activity events: one per SCIM request, shaped exactly like a row of `activity_log`.

Its `operation` and `outcome` are words of `audit.vocabulary`. Nothing in an event ever holds a secret: the
Authorization header is never read into it, and request and response bodies (kept for failures, and for
writes when the tenant asks) have every `password` removed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

MAX_BODY = 16_384
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


class ActivityEvent(msgspec.Struct, kw_only=True, omit_defaults=False):
    event_id: str
    received_at: str
    duration_ms: float
    request_id: str
    client_ip: str | None
    user_agent: str | None
    method: str
    path: str
    operation: str
    resource_type: str | None = None
    resource_id: str | None = None
    target: str | None = None
    status: int
    outcome: str
    error_type: str | None = None
    error_detail: str | None = None
    changed: list[str] = []
    rewrites: list[str] = []
    request_body: str | None = None
    response_body: str | None = None
    repeat: int = 1
    notify: bool = False


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("[removed]" if k.lower() == "password" else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def redact_body(raw: bytes | None) -> str | None:
    """The body as kept in the log: JSON with passwords removed, cut at MAX_BODY; unparseable bodies are
    described, never stored (they could hold anything)."""
    if not raw:
        return None
    try:
        data = _decode(raw)
    except (msgspec.DecodeError, ValueError, RecursionError):
        return f"[{len(raw)} bytes, not valid JSON]"
    text = _encode(_scrub(data)).decode()
    if len(text) > MAX_BODY:
        return text[:MAX_BODY] + f"… [{len(text) - MAX_BODY} more characters]"
    return text


def new_event_id() -> str:
    return str(uuid.uuid4())


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def encode_event(event: ActivityEvent) -> bytes:
    return _encode(event)
