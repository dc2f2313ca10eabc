"""The change events' names (what a host application subscribes to) and the `--events` patterns.

Stored in `event_log.type` and sent as a webhook payload's `type`: changing one is a data migration and a
breaking change for every consumer.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    USER_DEACTIVATED = "user.deactivated"
    USER_REACTIVATED = "user.reactivated"
    USER_DELETED = "user.deleted"
    GROUP_CREATED = "group.created"
    GROUP_UPDATED = "group.updated"
    GROUP_DELETED = "group.deleted"
    GROUP_MEMBER_ADDED = "group.member_added"
    GROUP_MEMBER_REMOVED = "group.member_removed"


EVENT_TYPES: tuple[str, ...] = tuple(t.value for t in EventType)


class PatternRejected(ValueError):
    """An `--events` list naming no known event type; the message lists what is accepted."""


def parse_patterns(text: str | None) -> list[str]:
    """`user.*,group.member_added` -> the patterns (empty: every event). Each is an event type, `user.*`,
    `group.*` or `*`."""
    if text is None or not text.strip():
        return []
    patterns = [p.strip() for p in text.split(",") if p.strip()]
    for p in patterns:
        if p != "*" and p not in EVENT_TYPES and not (p.endswith(".*") and p[:-2] in ("user", "group")):
            raise PatternRejected(
                f"unknown event type {p!r}: use user.*, group.*, * or one of {', '.join(EVENT_TYPES)}"
            )
    return [] if "*" in patterns else patterns


def matches(patterns: list[str], event_type: str) -> bool:
    if not patterns:
        return True
    return any(p == event_type or (p.endswith(".*") and event_type.startswith(p[:-1])) for p in patterns)


def sql_like_patterns(patterns: list[str]) -> list[str]:
    """The patterns as LIKE patterns (`user.%`), for the delivery's query; empty: every event."""
    return [p[:-1] + "%" if p.endswith(".*") else p for p in patterns]
