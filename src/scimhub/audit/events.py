"""Activity events: one per SCIM request, shaped exactly like a row of `activity_log`.

Its `operation` and `outcome` are words of `audit.vocabulary`. Nothing in an event ever holds a secret: the
Authorization header is never read into it, and request and response bodies (kept for failures, and for
writes when the tenant asks) have every password removed, in every form a client can send one: an attribute
key (any case, URN-qualified), a PATCH operation whose path names it, a filter that compares it (in a
SearchRequest body or the query string, `redact_path`). Keys and paths are read by the SCIM path parser.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode

import msgspec

from scimhub.scim.errors import ScimError
from scimhub.scim.filters import names_password, parse_filter, parse_path, path_names_password

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


REMOVED = "[removed]"
# Bodies are redacted this deep; deeper values (no SCIM resource nests so far) are replaced, so redaction
# recurses a bounded number of levels whatever the client sent.
MAX_REDACT_DEPTH = 16
_PLAIN_PATH = re.compile(r"\s*[A-Za-z$][\w:.$-]*\s*")  # an attribute path without a value filter


def _path_names_password(text: str) -> bool:
    """Does a PATCH path or an attribute key name `password` (`password`, `PassWord`,
    `urn:ietf:params:scim:schemas:core:2.0:User:password`, a value filter on it)? Read by the SCIM path
    parser; an unreadable text that mentions password counts as naming it."""
    if "password" not in text.lower():
        return False
    try:
        return path_names_password(parse_path(text.strip()))
    except ScimError:
        return True


def filter_names_password(text: str) -> bool:
    """Does a filter compare or test `password`? (an unreadable one that mentions it counts)"""
    if "password" not in text.lower():
        return False
    try:
        return names_password(parse_filter(text, max_length=len(text)))
    except ScimError:
        return True


def _get(d: dict[str, Any], name: str) -> Any:
    return next((v for k, v in d.items() if k.lower() == name), None)


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > MAX_REDACT_DEPTH:
        return "[nested too deeply]"
    if isinstance(value, list):
        return [_scrub(v, depth + 1) for v in value]
    if not isinstance(value, dict):
        return value
    # A PATCH operation whose path is the password: its value goes (RFC 7644 §3.5.2, any dialect).
    path = _get(value, "path")
    secret_value = isinstance(path, str) and _path_names_password(path)
    out: dict[str, Any] = {}
    for k, v in value.items():
        low = k.lower()
        if _path_names_password(k) or (secret_value and low == "value"):
            out[k] = REMOVED
        elif secret_value and low == "path" and not _PLAIN_PATH.fullmatch(v):
            out[k] = REMOVED  # `password[value eq "..."]`: the filter itself quotes a value
        elif low == "filter" and isinstance(v, str) and filter_names_password(v):
            out[k] = REMOVED  # a SearchRequest filter on password (RFC 7644 §3.4.3)
        else:
            out[k] = _scrub(v, depth + 1)
    return out


def redact_path(path_and_query: str) -> str:
    """A request's path and query string as the log keeps them: a `filter` parameter that names password is
    replaced (the query is read as decoded, so `p%61ssword` counts too)."""
    path, sep, query = path_and_query.partition("?")
    if not sep or "filter" not in unquote_plus(query).lower():
        return path_and_query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(k.lower() == "filter" and filter_names_password(v) for k, v in pairs):
        return path_and_query
    kept = [(k, REMOVED if k.lower() == "filter" and filter_names_password(v) else v) for k, v in pairs]
    return f"{path}?{urlencode(kept, quote_via=quote)}"


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


_VARIANT = "89ab89ab89ab89ab"


def new_event_id() -> str:
    """A random (version 4) UUID's text, as `str(uuid.uuid4())` gives it, at a quarter of its cost (every
    request makes one)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16)]}{h[17:20]}-{h[20:]}"


_second: list[Any] = [-1, ""]  # the UTC second of the last stamp and its ISO text (one strftime a second)


def now_iso() -> str:
    """Now in UTC as ISO 8601 with microseconds (`2026-12-02T00:18:01.123456+00:00`)."""
    now = time.time()
    second = int(now)
    if second != _second[0]:
        _second[0], _second[1] = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return f"{_second[1]}.{int((now - second) * 1_000_000):06d}+00:00"


def encode_event(event: ActivityEvent) -> bytes:
    return _encode(event)
