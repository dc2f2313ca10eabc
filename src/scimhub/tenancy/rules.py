"""The rules for a tenant's settings, one for every caller (CLI, hub, admin API).

Each check returns the normalised value or raises `SettingRejected` whose message is one sentence an
administrator or operator can act on; the caller decides how to show it (a CLI line, a form error, a 400).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

MAX_MINUTES = 10_080  # 7 days: the longest digest window and the longest token overlap
MAX_RECIPIENTS = 20
MAX_RATE_LIMIT = 1_000_000  # requests per window (the column's CHECK says the same)
MAX_EMAIL_LENGTH = 254  # RFC 5321 §4.5.3.1.3 (path length), less the angle brackets
_EMAIL = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+$")
_SEPARATORS = re.compile(r"[,;\n]")
_DURATION = re.compile(r"^(\d{1,7})\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class SettingRejected(ValueError):
    """A setting value that cannot be used; the message says what to send instead."""


def check_email(text: str) -> str:
    """One email address, trimmed; rejected unless it has the shape local@domain.tld (no list separators)."""
    email = text.strip()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(email):
        raise SettingRejected(f"not an email address: {email[:80]!r}")
    return email


def check_recipients(emails: Iterable[str]) -> list[str]:
    """A recipient list, one address per entry (the admin API's JSON array, or typed text once split): each
    entry is `check_email`ed (so an entry holding two addresses is refused), blank entries are skipped,
    duplicates (in any case) are dropped with the order kept, and at most MAX_RECIPIENTS remain."""
    seen: set[str] = set()
    checked: list[str] = []
    for raw in emails:
        if not raw.strip():
            continue
        email = check_email(raw)
        if email.lower() not in seen:
            seen.add(email.lower())
            checked.append(email)
    if len(checked) > MAX_RECIPIENTS:
        raise SettingRejected(f"at most {MAX_RECIPIENTS} recipients, got {len(checked)}")
    return checked


def parse_recipients(text: str) -> list[str]:
    """A recipient list as typed by a person (a CLI option, the hub's text box): addresses separated by commas,
    semicolons or new lines, then `check_recipients`. An empty text is an empty list (no recipients)."""
    return check_recipients(_SEPARATORS.split(text))


def check_digest_window(minutes: object) -> int:
    """Minutes from 1 to MAX_MINUTES, whatever the caller was handed (a bool is not a number here)."""
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_MINUTES:
        raise SettingRejected(f"the digest window must be a whole number of minutes from 1 to {MAX_MINUTES}")
    return minutes


def check_token_overlap(minutes: object) -> int:
    """Minutes from 0 to MAX_MINUTES, whatever the caller was handed (a bool is not a number here)."""
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 0 <= minutes <= MAX_MINUTES:
        raise SettingRejected(
            f"the overlap of older tokens must be a whole number of minutes from 0 to {MAX_MINUTES} (7 days)"
        )
    return minutes


def parse_minutes(text: str, what: str) -> int:
    """A whole number of minutes typed into a form field."""
    try:
        return int(text.strip())
    except ValueError:
        raise SettingRejected(f"{what} must be a whole number of minutes") from None


def parse_duration(text: str) -> dt.timedelta:
    """`90s`, `30m`, `24h`, `7d` (the CLI's `--keep-old-for`)."""
    m = _DURATION.match(text.strip().lower())
    if not m:
        raise SettingRejected(f"bad duration {text[:40]!r}: use a number with s, m, h or d (e.g. 90s, 30m, 24h, 7d)")
    return dt.timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def check_overlap_duration(delta: dt.timedelta) -> dt.timedelta:
    if not dt.timedelta(0) <= delta <= dt.timedelta(minutes=MAX_MINUTES):
        raise SettingRejected(f"the overlap of older tokens can be at most {MAX_MINUTES} minutes (7 days)")
    return delta


def parse_time(text: str, what: str = "time") -> dt.datetime:
    """An ISO 8601 time (`2026-11-29T10:00`, `...Z`, `...+01:00`); a time without offset is UTC."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise SettingRejected(f"{text[:40]!r} is not a date and time for {what} (use e.g. 2026-11-29T10:00)") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def check_rate_limit(limit: object) -> int | None:
    """A tenant's request-rate limit: a whole number from 1 to MAX_RATE_LIMIT of requests per rate-limit
    window, or None for the installation's default (SCIMHUB_RATE_LIMIT)."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RATE_LIMIT:
        raise SettingRejected(f"the rate limit must be a whole number from 1 to {MAX_RATE_LIMIT}, got {limit!r}")
    return limit


def parse_rate_limit(text: str) -> int | None:
    """`--rate-limit N` or `--rate-limit default`, as an operator types it."""
    if text.strip().lower() == "default":
        return None
    try:
        return check_rate_limit(int(text.strip()))
    except ValueError:
        raise SettingRejected(f"the rate limit must be a whole number or 'default', got {text[:40]!r}") from None
