"""Text PostgreSQL can store, at lengths its indexes take: the one home of the activity log's field limits
(which characters PostgreSQL refuses is `scim.characters`'s to say; `clean_text` replaces them through it).

PostgreSQL refuses NUL (`\\u0000` in jsonb, `\\x00` in text: UntranslatableCharacterError,
CharacterNotInRepertoireError) and Python strings with lone surrogates cannot even be encoded as UTF-8; a
btree index entry larger than about a third of a page (2,704 bytes) fails with "index row size exceeds
maximum" (ProgramLimitExceededError). Any of these in one buffered event used to make the whole flush fail
forever (issue #11). So:
- `bounded(event)` is applied where an event is built (`http/activity.py`, counted there): every text field
  cleaned and cut to `LIMITS`, which keep each indexed column far below the index limit even in 4-byte
  characters;
- `sanitise(raw)` turns anything that claims to be an encoded event (bytes that may not even be JSON) into
  one PostgreSQL takes, for the refused-event path of `audit.quarantine`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from typing import Any

import msgspec

from scimhub.audit.events import MAX_BODY, ActivityEvent, encode_event
from scimhub.scim.characters import storable, unstorable

# Characters in the (indexed) columns of activity_log; 256 characters are at most 1,024 bytes of UTF-8.
LIMITS: dict[str, int] = {
    "request_id": 64,
    "client_ip": 64,
    "user_agent": 256,
    "method": 16,
    "path": 2048,
    "operation": 64,
    "resource_type": 32,
    "resource_id": 256,
    "target": 256,
    "outcome": 32,
    "error_type": 64,
    "error_detail": 1024,
    # Bodies are cut at MAX_BODY by `redact_body`; the note it appends may take a few more characters.
    "request_body": MAX_BODY + 64,
    "response_body": MAX_BODY + 64,
}
MAX_ITEMS = 64  # entries of `changed` and `rewrites`
ITEM_LIMIT = 256
_TEXT_FIELDS = tuple(LIMITS)


def clean_text(text: str, limit: int) -> str:
    """`text` cut to `limit` characters (the cut marked with "…") and without NUL and lone surrogates (each
    becomes U+FFFD: `scim.characters.storable`, the home of what PostgreSQL can store). The same object when
    nothing had to change. Cut first, so an over-long value costs no more than `limit` characters of search."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if unstorable(text) is not None:
        text = storable(text)
    return text


def _clean_list(values: list[str]) -> list[str]:
    return [clean_text(v, ITEM_LIMIT) for v in values[:MAX_ITEMS]]


def bounded(event: ActivityEvent) -> bool:
    """Make every text field of the event storable and within `LIMITS`, in place; True when one had to change."""
    changed = False
    for name in _TEXT_FIELDS:
        value = getattr(event, name)
        if value is not None:
            clean = clean_text(value, LIMITS[name])
            if clean is not value:
                setattr(event, name, clean)
                changed = True
    for name in ("changed", "rewrites"):
        values = getattr(event, name)
        clean_list = _clean_list(values)
        if clean_list != values:
            setattr(event, name, clean_list)
            changed = True
    return changed


def _loads(raw: bytes) -> Any:
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, ValueError, RecursionError):
        pass
    try:  # the stdlib reads lone surrogate escapes and invalid UTF-8 (as U+FFFD) that msgspec refuses
        return json.loads(raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return None


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        value = msgspec.json.encode(value).decode() if isinstance(value, (dict, list)) else str(value)
    return clean_text(value, LIMITS[name])


def _texts(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [clean_text(v if isinstance(v, str) else str(v), ITEM_LIMIT) for v in value[:MAX_ITEMS] if v is not None]


def _int(value: Any, low: int, high: int, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high else default


def _timestamp(value: Any) -> str:
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None and 1970 <= parsed.year <= 9000:
            return parsed.isoformat()
    return dt.datetime.now(dt.UTC).isoformat()


def _event_id(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(uuid.uuid4())


def sanitise(raw: bytes) -> bytes:
    """An encoded event PostgreSQL will take, made from whatever `raw` holds: each field of the event kept
    when it has the right type (text cleaned and cut, numbers within their column's range), else replaced by
    a neutral value; bytes that are no event at all become an entry that says so. Same event id when `raw`
    has a valid one, so a later retry of the original cannot add a second entry."""
    data = _loads(raw)
    fields: dict[str, Any] = data if isinstance(data, dict) else {}
    duration = fields.get("duration_ms")
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration):
        duration = 0.0
    event = ActivityEvent(
        event_id=_event_id(fields.get("event_id")),
        received_at=_timestamp(fields.get("received_at")),
        duration_ms=float(duration) if abs(duration) < 1e9 else 0.0,
        request_id=_text(fields.get("request_id"), "request_id") or "",
        client_ip=_text(fields.get("client_ip"), "client_ip"),
        user_agent=_text(fields.get("user_agent"), "user_agent"),
        method=_text(fields.get("method"), "method") or "?",
        path=_text(fields.get("path"), "path") or "?",
        operation=_text(fields.get("operation"), "operation") or "Other request",
        resource_type=_text(fields.get("resource_type"), "resource_type"),
        resource_id=_text(fields.get("resource_id"), "resource_id"),
        target=_text(fields.get("target"), "target"),
        status=_int(fields.get("status"), 0, 999, 0),
        outcome=_text(fields.get("outcome"), "outcome") or "failure",
        error_type=_text(fields.get("error_type"), "error_type") or (None if data is not None else "unreadable event"),
        error_detail=_text(fields.get("error_detail"), "error_detail"),
        changed=_texts(fields.get("changed")),
        rewrites=_texts(fields.get("rewrites")),
        request_body=_text(fields.get("request_body"), "request_body"),
        response_body=_text(fields.get("response_body"), "response_body"),
        repeat=_int(fields.get("repeat"), 1, 2**31 - 1, 1),
        notify=fields.get("notify") is True,
    )
    return encode_event(event)
