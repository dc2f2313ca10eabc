"""Logging, Sentry and metrics, set up once per process (web or worker).

Nothing personal or secret leaves the process: Sentry gets `send_default_pii=False`, no local variables,
no request bodies, cookies, headers or query strings, and every event passes `scrub_event`, which removes
exception messages (database errors quote the failing row), breadcrumb messages, and any value under a key
that names personal data, and masks emails and tokens wherever they still appear. Expected SCIM outcomes
(4xx) are not errors and are dropped.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

from scimhub.settings import Settings

_configured = False
log = logging.getLogger("scimhub")

_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
_TOKEN = re.compile(r"(?:shs_[\w-]{8,}|(?i:bearer)\s+\S+)")
_PERSONAL_KEYS = {
    "username",
    "displayname",
    "externalid",
    "email",
    "emails",
    "name",
    "givenname",
    "familyname",
    "formatted",
    "password",
    "token",
    "authorization",
    "cookie",
    "cookies",
    "target",
    "value",
    "phonenumbers",
    "addresses",
    "nickname",
    "title",
    "query_string",
    "data",
    "body",
    "notify_emails",
    "recipient",
    "recipients",
    "to",
}
_SAFE_KEYS = {
    "type",
    "module",
    "mechanism",
    "filename",
    "function",
    "lineno",
    "colno",
    "abs_path",
    "in_app",
    "level",
    "logger",
    "platform",
    "timestamp",
    "event_id",
    "environment",
    "release",
    "tags",
    "contexts",
    "sdk",
    "transaction",
    "fingerprint",
    "server_name",
    "category",
}


def mask(text: str) -> str:
    return _TOKEN.sub("[token]", _EMAIL.sub("[email]", text))


def _scrub(value: Any, key: str = "") -> Any:
    if key.lower() in _PERSONAL_KEYS:
        return "[removed]"
    if isinstance(value, dict):
        return {k: _scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return mask(value)
    return value


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Sentry `before_send`: drop expected SCIM outcomes, strip personal data and secrets."""
    from scimhub.scim.errors import ScimError

    exc_info = (hint or {}).get("exc_info")
    if exc_info and isinstance(exc_info[1], ScimError) and exc_info[1].status < 500:
        return None
    for exc in (event.get("exception") or {}).get("values", []):
        exc["value"] = "[message removed]"
        for frame in (exc.get("stacktrace") or {}).get("frames", []):
            frame.pop("vars", None)
            frame.pop("context_line", None)
            frame.pop("pre_context", None)
            frame.pop("post_context", None)
    request = event.get("request")
    if isinstance(request, dict):
        event["request"] = {k: v for k, v in request.items() if k in {"method", "url"}}
        if "url" in event["request"]:
            event["request"]["url"] = str(event["request"]["url"]).split("?", 1)[0]
    event.pop("user", None)
    event.pop("extra", None)
    if "logentry" in event:
        event["logentry"] = {"message": mask(str(event["logentry"].get("message", "")))}
    if "message" in event and isinstance(event["message"], str):
        event["message"] = mask(event["message"])
    crumbs = event.get("breadcrumbs")
    if isinstance(crumbs, dict):
        crumbs["values"] = [
            {k: v for k, v in c.items() if k in {"category", "level", "timestamp", "type"}}
            for c in crumbs.get("values", [])
        ]
    for key in list(event):
        if key not in _SAFE_KEYS | {
            "exception",
            "request",
            "breadcrumbs",
            "logentry",
            "message",
            "spans",
            "threads",
            "modules",
        }:
            event[key] = _scrub(event[key], key)
    if "tags" in event:
        event["tags"] = (
            {k: mask(str(v)) for k, v in dict(event["tags"]).items()}
            if isinstance(event["tags"], dict)
            else event["tags"]
        )
    return event


def scrub_transaction(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any] | None:
    return None  # no performance tracing is sent


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            data["exc_type"] = record.exc_info[0].__name__
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        extra = " ".join(f"{k}={v}" for k, v in fields.items()) if isinstance(fields, dict) else ""
        text = (
            f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {record.levelname:<7} {record.name}: "
            f"{mask(record.getMessage())}"
        )
        if extra:
            text += " " + extra
        if record.exc_info and record.exc_info[0] is not None:
            text += f" [{record.exc_info[0].__name__}]"  # the type only: messages may hold personal data
        return text


def init_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # httpx logs full URLs (with SCIM filters, i.e. userNames); keep it quiet.
    for noisy in ("httpx", "httpcore", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def init_sentry(settings: Settings, component: str) -> bool:
    if not settings.sentry_dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.environment,
        release=settings.release,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        include_source_context=False,
        before_send=scrub_event,  # type: ignore[arg-type]
        before_send_transaction=scrub_transaction,  # type: ignore[arg-type]
        traces_sample_rate=0.0,
        max_breadcrumbs=20,
        # Exceptions come from the Litestar and Celery integrations; log lines stay breadcrumbs, so one
        # failure is one event.
        integrations=[LoggingIntegration(level=logging.INFO, event_level=None)],
    )
    sentry_sdk.set_tag("component", component)
    global _sentry_on
    _sentry_on = True
    return True


def init_observability(settings: Settings, *, component: str) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    global _access_format
    _access_format = settings.log_format
    _stamps[0] = -1
    init_logging(settings)
    init_sentry(settings, component)


_access_format = "text"
_encode = None


_stamps: list[Any] = [-1, ""]  # the second of the last access-log line and its stamp (one strftime a second)


def _stamp(now: float) -> str:
    second = int(now)
    if second != _stamps[0]:
        when = time.gmtime(second) if _access_format == "json" else time.localtime(second)
        _stamps[0], _stamps[1] = (
            second,
            time.strftime("%Y-%m-%dT%H:%M:%S" if _access_format == "json" else "%H:%M:%S", when),
        )
    return str(_stamps[1])


def access_log(fields: dict[str, Any]) -> None:
    """One line per SCIM request: request id, tenant, method, route template, status, duration. Never a body,
    a query string, a token or a personal value. Written straight to stderr (the same stream and format as
    the logging handler): this runs on every request, and the logging machinery costs more than the line."""
    if not log.isEnabledFor(logging.INFO):
        return
    now = time.time()
    if _access_format == "json":
        stamp = f"{_stamp(now)}.{int(now % 1 * 1000):03d}Z"
        line = _json_line({"ts": stamp, "level": "info", "logger": "scimhub", "msg": "request", **fields})
    else:
        line = f"{_stamp(now)} INFO    scimhub: request " + " ".join(f"{k}={v}" for k, v in fields.items()) + "\n"
    sys.stderr.write(line)


def _json_line(data: dict[str, Any]) -> str:
    global _encode
    if _encode is None:
        import msgspec

        _encode = msgspec.json.Encoder().encode
    return _encode(data).decode() + "\n"


_sentry_on = False


def set_request_tags(tenant_slug: str | None, request_id: str) -> None:
    if not _sentry_on:  # without a DSN, creating Sentry scopes per request is pure cost
        return
    import sentry_sdk

    scope = sentry_sdk.get_isolation_scope()
    scope.set_tag("request_id", request_id)
    if tenant_slug:
        scope.set_tag("tenant", tenant_slug)


def name_transaction(name: str) -> None:
    """Name the Sentry transaction of a failing SCIM request after its handler function, as Litestar's Sentry
    integration named it when the SCIM API had Litestar routes (`http.dispatch` calls this only on an
    exception, so a request that succeeds pays nothing)."""
    if not _sentry_on:
        return
    import sentry_sdk

    sentry_sdk.get_isolation_scope().set_transaction_name(name, source="component")
    sentry_sdk.get_current_scope().set_transaction_name(name, source="component")


def report_warning(message: str) -> None:
    """A warning event for the operator in Sentry, when a DSN is configured. `message` names what happened in
    fixed words and codes (an SMTP reply code), never a personal value; `scrub_event` still masks emails and
    tokens as a second line of defence."""
    if not _sentry_on:
        return
    import sentry_sdk

    sentry_sdk.capture_message(message, level="warning")
