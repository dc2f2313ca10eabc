"""Failure digests: the summary a mail shows, and its rendering (Jinja2, plain text and HTML)."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
import msgspec

from scimhub.audit.vocabulary import PROBLEMS

_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "email"
_text_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_TEMPLATES),
    autoescape=False,  # noqa: S701 - plain text
    trim_blocks=True,
    keep_trailing_newline=True,
)
_html_env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True)


class Example(msgspec.Struct):
    time: str
    status: int
    operation: str
    target: str | None
    detail: str | None


class DigestSummary(msgspec.Struct, kw_only=True):
    digest_id: str
    kind: str  # failures, recovered, test
    tenant_slug: str
    tenant_name: str
    failures: int = 0
    auth_failures: int = 0
    window_start: str = ""
    window_end: str = ""
    last_failure: str = ""
    by_operation: list[tuple[str, int]] = []
    by_error: list[tuple[str, int]] = []
    examples: list[Example] = []
    link: str = ""


def fmt(ts: dt.datetime | None) -> str:
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def activity_link(public_url: str, slug: str, start: dt.datetime | None, end: dt.datetime | None) -> str:
    query: dict[str, Any] = {"outcome": PROBLEMS}
    if start:
        query["since"] = start.astimezone(dt.UTC).isoformat(timespec="seconds")
    if end:
        query["until"] = (end + dt.timedelta(seconds=1)).astimezone(dt.UTC).isoformat(timespec="seconds")
    return f"{public_url}/hub/{slug}/activity?{urlencode(query)}"


def subject(s: DigestSummary) -> str:
    if s.kind == "recovered":
        return f"[scimhub] {s.tenant_name}: provisioning recovered"
    if s.kind == "test":
        return f"[scimhub] {s.tenant_name}: test notification"
    parts = [f"{s.failures} failed provisioning request{'s' if s.failures != 1 else ''}"] if s.failures else []
    if s.auth_failures:
        parts.append(f"{s.auth_failures} authentication failure{'s' if s.auth_failures != 1 else ''}")
    return f"[scimhub] {s.tenant_name}: " + " and ".join(parts or ["provisioning failures"])


def build_message(s: DigestSummary, *, sender: str, recipient: str) -> EmailMessage:
    context = msgspec.structs.asdict(s)
    message = EmailMessage()
    message["Subject"] = subject(s)
    message["From"] = sender
    message["To"] = recipient
    message["Message-ID"] = make_msgid(idstring=s.digest_id.replace("-", ""), domain="scimhub")
    message["X-Scimhub-Tenant"] = s.tenant_slug
    message["X-Scimhub-Digest"] = s.digest_id
    message.set_content(_text_env.get_template("digest.txt").render(**context))
    message.add_alternative(_html_env.get_template("digest.html").render(**context), subtype="html")
    return message
