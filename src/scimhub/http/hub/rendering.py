"""Rendering hub pages: the Jinja2 templates, the hub's response headers, and its error pages."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jinja2
from litestar import Request, Response
from litestar.datastructures import Cookie

from scimhub.audit.activity_filter import FilterRejected
from scimhub.scim.errors import InvalidValue

_TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "hub"
_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}


class HubError(Exception):
    """A request the hub answers with an error page: the status, a heading, and what to do about it."""

    def __init__(self, status: int, heading: str, message: str) -> None:
        super().__init__(message)
        self.status, self.heading, self.message = status, heading, message


def pretty_json(text: str | None) -> str:
    """Bodies kept as compact JSON, shown indented."""
    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def utc(ts: dt.datetime | None) -> str | None:
    """A time as the hub shows it (`2026-11-29 10:00:00 UTC`); None stays None (the template says "never")."""
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else None


def sentence(exc: Exception) -> str:
    """A rule's message (`the digest window must be ...`) as a sentence for a page."""
    text = str(exc)
    return f"{text[:1].upper()}{text[1:]}{'' if text.endswith('.') else '.'}"


_env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True)
_env.filters["pretty"] = pretty_json
_env.filters["utc"] = utc


def html(template: str, status: int = 200, cookies: list[Cookie] | None = None, **context: Any) -> Response[str]:
    return Response(
        _env.get_template(template).render(**context),
        status_code=status,
        media_type="text/html",
        cookies=cookies,
        headers=_HEADERS,
    )


def _error_page(request: Request[Any, Any, Any], status: int, heading: str, message: str) -> Response[str]:
    slug = request.path_params.get("slug")
    return html("error.html", status=status, heading=heading, message=message, principal=None, slug=slug)


def hub_error_page(request: Request[Any, Any, Any], exc: HubError) -> Response[str]:
    return _error_page(request, exc.status, exc.heading, exc.message)


def bad_filter_page(request: Request[Any, Any, Any], exc: FilterRejected) -> Response[str]:
    return _error_page(request, 400, exc.heading, exc.message)


def bad_input_page(request: Request[Any, Any, Any], exc: InvalidValue) -> Response[str]:
    """Text the database cannot store (`http.wire.check_admin_request_text`): nothing was changed."""
    return _error_page(request, 400, "Bad input", f"{sentence(exc)} Nothing was changed.")
