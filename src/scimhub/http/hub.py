"""The admin hub: server-rendered pages (Litestar + Jinja2) for a tenant's administrators.

Every page is bound to the signed-in administrator's tenant: a session of tenant A asking for tenant B's
pages gets 404. Every form carries the session's CSRF token; a forged or missing token gets 403 and changes
nothing. Bad filter values get a 400 page that says what to fix.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hmac
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import jinja2
from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie, State
from litestar.params import FromPath
from litestar.response import Redirect, Stream

from scimhub import admins
from scimhub.admins import AdminError, Principal
from scimhub.audit import chart
from scimhub.audit.queries import ActivityFilter, Cursor, activity_histogram_rollup, get_entry, list_activity
from scimhub.http.services import Services
from scimhub.notify import service as notify_service
from scimhub.store.resources import count_resources
from scimhub.tenancy import tenants
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.names import SLUG_RE, schema_name, tenant_role_name
from scimhub.tenancy.transaction import tenant_transaction

COOKIE = "scimhub_session"
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent.parent / "templates" / "hub"),
    autoescape=True,
)


def _pretty(text: str | None) -> str:
    """Bodies kept as compact JSON, shown indented."""
    import json

    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


_env.filters["pretty"] = _pretty
OPERATIONS = [
    "Test connection",
    "Lookup",
    "Get user",
    "Create user",
    "Update user",
    "Disable user",
    "Enable user",
    "Replace user",
    "Delete user",
    "Create group",
    "Add members",
    "Remove members",
    "Update members",
    "Rename group",
    "Update group",
    "Replace group",
    "Delete group",
    "Discovery",
    "Authentication failed",
]


class HubError(Exception):
    def __init__(self, status: int, heading: str, message: str) -> None:
        super().__init__(message)
        self.status, self.heading, self.message = status, heading, message


class SignInRequired(Exception):
    def __init__(self, slug: str, next_path: str, expired: bool) -> None:
        super().__init__(slug)
        self.slug, self.next_path, self.expired = slug, next_path, expired


def _services(request: Request[Any, Any, State]) -> Services:
    services: Services = request.app.state.services
    return services


def html(template: str, status: int = 200, cookies: list[Cookie] | None = None, **context: Any) -> Response[str]:
    return Response(
        _env.get_template(template).render(**context),
        status_code=status,
        media_type="text/html",
        cookies=cookies,
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"},
    )


async def tenant_row(conn: asyncpg.Connection, slug: str) -> asyncpg.Record | None:
    if not SLUG_RE.match(slug):
        return None
    return await conn.fetchrow("SELECT * FROM public.tenant WHERE slug = $1", slug)


def tenant_value(services: Services, row: asyncpg.Record) -> Tenant:
    return Tenant(
        id=row["id"],
        slug=row["slug"],
        schema=schema_name(row["id"]),
        role=tenant_role_name(services.db.install_id, row["id"]),
        status=row["status"],
    )


class Page:
    """A signed-in request: the principal, its tenant, and what every template needs."""

    def __init__(self, services: Services, principal: Principal, row: asyncpg.Record) -> None:
        self.services = services
        self.principal = principal
        self.row = row
        self.tenant = tenant_value(services, row)

    def context(self, page: str, **more: Any) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "slug": self.row["slug"],
            "tenant_name": self.row["name"],
            "page": page,
            **more,
        }


async def open_page(request: Request[Any, Any, State], slug: str, *, allow_password_change: bool = False) -> Page:
    services = _services(request)
    token = request.cookies.get(COOKIE)
    async with services.db.pool.acquire() as conn:
        principal = await admins.session_principal(conn, token) if token else None
        row = await tenant_row(conn, slug)
    if principal is None:
        raise SignInRequired(slug, request.url.path, expired=token is not None)
    if row is None or row["id"] != principal.tenant_id:
        raise HubError(404, "Not found", "There is no such page.")
    if principal.must_change_password and not allow_password_change:
        raise SignInRequired(slug, "password", expired=False)
    return Page(services, principal, row)


async def form_of(request: Request[Any, Any, State], page: Page) -> dict[str, str]:
    form = await request.form()
    data = {k: str(v) for k, v in form.items()}
    expected = page.principal.csrf_token or ""
    if not hmac.compare_digest(data.get("csrf", "").encode(), expected.encode()):
        raise HubError(
            403,
            "This form has expired",
            "The form was not accepted (its security token is missing or "
            "out of date). Reload the page and try again; nothing was changed.",
        )
    return data


def _fmt(ts: dt.datetime | None) -> str | None:
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else None


# ------------------------------------------------------------------------------------------ sign-in


@get("/{slug:str}/login", include_in_schema=False)
async def login_page(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[str]:
    expired = request.query_params.get("expired") == "1"
    return html(
        "login.html",
        slug=slug,
        next=request.query_params.get("next", ""),
        principal=None,
        flash="Your session expired; sign in again." if expired else None,
    )


@post("/{slug:str}/login", include_in_schema=False)
async def login_submit(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[Any]:
    services = _services(request)
    form = await request.form()
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    nxt = str(form.get("next", ""))
    client = request.client.host if request.client else None
    try:
        async with services.db.pool.acquire() as conn:
            row = await tenant_row(conn, slug)
            if row is None:
                await asyncio.sleep(0.2)
                raise AdminError("wrong email or password")
            token, principal = await admins.sign_in(conn, row["id"], email, password, client)
    except AdminError as exc:
        return html(
            "login.html",
            status=401 if "wrong" in str(exc) else 429,
            slug=slug,
            next=nxt,
            email=email,
            principal=None,
            error=str(exc),
        )
    secure = services.settings.public_url.startswith("https://")
    cookie = Cookie(
        key=COOKIE,
        value=token,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
        max_age=admins.SESSION_HOURS * 3600,
    )
    target = (
        f"/hub/{slug}/password"
        if principal.must_change_password
        else (nxt if nxt.startswith(f"/hub/{slug}/") else f"/hub/{slug}/")
    )
    return Redirect(target, status_code=303, cookies=[cookie])


@post("/{slug:str}/logout", include_in_schema=False)
async def logout(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[Any]:
    page = await open_page(request, slug, allow_password_change=True)
    await form_of(request, page)
    async with page.services.db.pool.acquire() as conn:
        await admins.sign_out(conn, request.cookies.get(COOKIE, ""))
    return Redirect(
        f"/hub/{slug}/login",
        status_code=303,
        cookies=[Cookie(key=COOKIE, value="", max_age=0, path="/", httponly=True, samesite="lax")],
    )


@get("/{slug:str}/password", include_in_schema=False)
async def password_page(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[str]:
    page = await open_page(request, slug, allow_password_change=True)
    return html("password.html", **page.context("password"))


@post("/{slug:str}/password", include_in_schema=False)
async def password_submit(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[Any]:
    page = await open_page(request, slug, allow_password_change=True)
    form = await form_of(request, page)
    try:
        async with page.services.db.pool.acquire() as conn:
            await admins.change_password(conn, page.principal, form.get("password", ""))
    except AdminError as exc:
        return html("password.html", status=400, error=str(exc), **page.context("password"))
    return Redirect(f"/hub/{slug}/", status_code=303)


# ------------------------------------------------------------------------------------------ overview


@get("/{slug:str}/", include_in_schema=False)
async def overview(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[str]:
    page = await open_page(request, slug)
    async with tenant_transaction(page.services.db.pool, page.tenant) as conn:
        counts = await count_resources(conn)
        row = await conn.fetchrow(
            """SELECT (SELECT max(received_at) FROM activity_log WHERE outcome = 'success') AS last_ok,
                      (SELECT max(received_at) FROM activity_log WHERE outcome = 'failure') AS last_failed,
                      (SELECT max(received_at) FROM activity_log) AS last_any,
                      (SELECT coalesce(sum(repeat), 0) FROM activity_log
                        WHERE outcome <> 'success' AND notify AND received_at > now() - interval '24 hours') AS f24"""
        )
    return html(
        "overview.html",
        counts=counts,
        last_ok=_fmt(row["last_ok"]),
        last_failed=_fmt(row["last_failed"]),
        last_any=row["last_any"],
        failures_24h=row["f24"],
        active=page.row["status"] == "active",
        **page.context("overview"),
    )


# ----------------------------------------------------------------------------------------- connector


async def _connector(page: Page, status: int = 200, **more: Any) -> Response[str]:
    async with page.services.db.pool.acquire() as conn:
        rows = await tenants.usable_tokens(conn, page.tenant.id)
        active = (await conn.fetchval("SELECT status FROM public.tenant WHERE id = $1", page.tenant.id)) == "active"
    tokens = [
        {
            "hint": r["hint"],
            "created": _fmt(r["created_at"]),
            "last_used": _fmt(r["last_used_at"]),
            "expires": _fmt(r["expires_at"]),
        }
        for r in rows
    ]
    return html(
        "connector.html",
        status=status,
        tokens=tokens,
        active=active,
        scim_url=tenants.scim_url(page.services.settings.public_url, page.tenant.slug),
        **page.context("connector", **more),
    )


@get("/{slug:str}/connectors/scim", include_in_schema=False)
async def connector_page(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[str]:
    return await _connector(await open_page(request, slug))


@post("/{slug:str}/connectors/scim/active", include_in_schema=False)
async def connector_toggle(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[str]:
    page = await open_page(request, slug)
    form = await form_of(request, page)
    on = form.get("active") == "on"
    async with page.services.db.pool.acquire() as conn:
        await tenants.set_status(conn, slug, "active" if on else "disabled")
    page.services.resolver.forget_all()  # at once in this process; other processes within the cache TTL
    return await _connector(page, flash=f"The SCIM connector is now {'on' if on else 'off'}.")


@post("/{slug:str}/connectors/scim/rotate", include_in_schema=False)
async def connector_rotate(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[str]:
    page = await open_page(request, slug)
    form = await form_of(request, page)
    try:
        minutes = int(form.get("overlap", "0"))
        if not 0 <= minutes <= 10080:
            raise ValueError
    except ValueError:
        raise HubError(400, "Bad overlap", "Choose how long older tokens keep working (0 to 7 days).") from None
    async with page.services.db.pool.acquire() as conn:
        issued = await tenants.rotate_token(
            conn, slug, public_url=page.services.settings.public_url, keep_old_for=dt.timedelta(minutes=minutes)
        )
    page.services.resolver.forget_all()
    return await _connector(
        page,
        new_token=issued.token,
        flash="A new token was generated. Paste it into Entra ID now: it is shown only once.",
    )


@post("/{slug:str}/connectors/scim/revoke", include_in_schema=False)
async def connector_revoke(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[str]:
    page = await open_page(request, slug)
    form = await form_of(request, page)
    if form.get("confirm") != "yes":
        return await _connector(page, status=400, error="Tick the box to confirm; no token was revoked.")
    async with page.services.db.pool.acquire() as conn:
        n = await tenants.revoke_tokens(conn, slug)
    page.services.resolver.forget_all()
    return await _connector(page, flash=f"Revoked {n} token(s). Provisioning stops until a new token is in use.")


# ------------------------------------------------------------------------------------- notifications


async def _notifications(page: Page, status: int = 200, **more: Any) -> Response[str]:
    async with page.services.db.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT notify_emails, notify_enabled, digest_window_minutes FROM public.tenant WHERE id = $1",
            page.tenant.id,
        )
    deliveries = (await notify_service.deliveries(page.services.db.pool, page.tenant))[-10:][::-1]
    return html(
        "notifications.html",
        status=status,
        recipients=list(row["notify_emails"]),
        enabled=row["notify_enabled"],
        window=row["digest_window_minutes"],
        deliveries=deliveries,
        **page.context("notifications", **more),
    )


@get("/{slug:str}/notifications", include_in_schema=False)
async def notifications_page(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[str]:
    return await _notifications(await open_page(request, slug))


def parse_recipients(text: str) -> list[str]:
    emails = [e.strip() for e in text.replace(",", "\n").splitlines() if e.strip()]
    for e in emails:
        admins.check_email(e)
    if len(emails) > 20:
        raise AdminError("at most 20 recipients")
    return emails


@post("/{slug:str}/notifications", include_in_schema=False)
async def notifications_save(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[str]:
    page = await open_page(request, slug)
    form = await form_of(request, page)
    try:
        emails = parse_recipients(form.get("recipients", ""))
        window = int(form.get("window", "60"))
        if not 1 <= window <= 10080:
            raise AdminError("the digest window must be between 1 and 10080 minutes")
    except ValueError:
        return await _notifications(page, status=400, error="The digest window must be a whole number of minutes.")
    except AdminError as exc:
        return await _notifications(page, status=400, error=f"Not saved: {exc}.")
    async with page.services.db.pool.acquire() as conn:
        await tenants.set_notifications(
            conn, slug, emails=emails, enabled=form.get("enabled") == "on", window_minutes=window
        )
    return await _notifications(page, flash="Notification settings saved.")


@post("/{slug:str}/notifications/test", include_in_schema=False)
async def notifications_test(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[str]:
    page = await open_page(request, slug)
    await form_of(request, page)
    digest_id = await notify_service.create_test_digest(page.services.db.pool, page.tenant)
    try:
        await asyncio.to_thread(page.services.publish, "email.send_digest", [page.tenant.id, str(digest_id)], "email")
    except Exception:  # noqa: BLE001
        return await _notifications(
            page, status=503, error="The mail queue is unavailable right now; try again shortly."
        )
    return await _notifications(page, flash="A test message is on its way to the recipients.")


# ----------------------------------------------------------------------------------------- activity


def parse_time(raw: str | None, name: str) -> dt.datetime | None:
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise HubError(
            400, "Bad date", f"'{raw[:40]}' is not a date and time for '{name}' (use the picker, or 2026-11-29T10:00)."
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def activity_filter(params: Any) -> tuple[ActivityFilter, Cursor | None]:
    outcome = params.get("outcome") or None
    if outcome not in (None, "problems", "success", "failure", "conflict", "not found"):
        raise HubError(400, "Bad filter", f"Unknown outcome '{str(outcome)[:40]}'.")
    rtype = params.get("type") or params.get("resource_type") or None
    if rtype not in (None, "User", "Group"):
        raise HubError(400, "Bad filter", "Resource must be User or Group.")
    since, until = parse_time(params.get("since"), "since"), parse_time(params.get("until"), "until")
    if since and until and since >= until:
        raise HubError(400, "Bad filter", "'From' must be before 'To'.")
    f = ActivityFilter(
        since=since,
        until=until,
        outcome=outcome,
        operation=(params.get("operation") or None),
        resource_type=rtype,
        text=(params.get("q") or None),
    )
    cursor = decode_cursor(params.get("cursor"))
    return f, cursor


def encode_cursor(c: Cursor | None) -> str | None:
    return f"{c.received_at.isoformat()}_{c.event_id}" if c else None


def decode_cursor(raw: str | None) -> Cursor | None:
    if not raw:
        return None
    try:
        ts, _, eid = raw.rpartition("_")
        return Cursor(dt.datetime.fromisoformat(ts), uuid.UUID(eid))
    except ValueError:
        raise HubError(400, "Bad page link", "This page link is malformed; start again from the first page.") from None


def filter_query(f: ActivityFilter) -> str:
    q = {
        "since": f.since.strftime("%Y-%m-%dT%H:%M") if f.since else "",
        "until": f.until.strftime("%Y-%m-%dT%H:%M") if f.until else "",
        "outcome": f.outcome or "",
        "operation": f.operation or "",
        "type": f.resource_type or "",
        "q": f.text or "",
    }
    return urlencode({k: v for k, v in q.items() if v})


@get("/{slug:str}/activity", include_in_schema=False)
async def activity_page(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[str]:
    page = await open_page(request, slug)
    f, cursor = activity_filter(request.query_params)
    now = dt.datetime.now(dt.UTC)
    until = f.until or now
    since = f.since or (until - dt.timedelta(hours=24))
    bucket = chart.bucket_for(since, until)
    async with tenant_transaction(page.services.db.pool, page.tenant) as conn:
        items, next_cursor = await list_activity(conn, f, limit=50, after=cursor)
        rows = await activity_histogram_rollup(conn, since, until, f.outcome)
    svg = chart.render_svg(chart.series(rows, since, until, bucket), bucket)
    return html(
        "activity.html",
        items=items,
        next_cursor=encode_cursor(next_cursor),
        query=filter_query(f),
        f={
            **{k: getattr(f, k) for k in ("outcome", "operation", "resource_type", "text")},
            "since_input": f.since.strftime("%Y-%m-%dT%H:%M") if f.since else "",
            "until_input": f.until.strftime("%Y-%m-%dT%H:%M") if f.until else "",
        },
        filtered=bool(filter_query(f)),
        operations=OPERATIONS,
        chart=svg,
        bucket=bucket,
        chart_range=f"{since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M}",
        colours=[(o, chart.COLOURS[o]) for o in chart.ORDER],
        **page.context("activity"),
    )


@get("/{slug:str}/activity/{event_id:str}", include_in_schema=False)
async def activity_entry(
    request: Request[Any, Any, State], slug: FromPath[str], event_id: FromPath[str]
) -> Response[str]:
    page = await open_page(request, slug)
    try:
        eid = uuid.UUID(event_id)
    except ValueError:
        raise HubError(404, "Not found", "There is no such activity entry.") from None
    async with tenant_transaction(page.services.db.pool, page.tenant) as conn:
        entry = await get_entry(conn, eid)
    if entry is None:
        raise HubError(404, "Not found", "There is no such activity entry.")
    return html("entry.html", e=entry, **page.context("activity"))


CSV_COLUMNS = [
    "received_at",
    "status",
    "outcome",
    "operation",
    "resource_type",
    "resource_id",
    "target",
    "error_type",
    "error_detail",
    "changed",
    "rewrites",
    "duration_ms",
    "repeat",
    "request_id",
    "client_ip",
    "method",
    "path",
]


@get("/{slug:str}/activity.csv", include_in_schema=False)
async def activity_csv(request: Request[Any, Any, State], slug: FromPath[str]) -> Stream:
    page = await open_page(request, slug)
    f, _ = activity_filter(request.query_params)

    async def rows() -> AsyncIterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(CSV_COLUMNS)
        cursor: Cursor | None = None
        sent = 0
        while sent < 100_000:
            async with tenant_transaction(page.services.db.pool, page.tenant) as conn:
                items, cursor = await list_activity(conn, f, limit=1000, after=cursor)
            for e in items:
                writer.writerow(
                    [
                        e["received_at"].isoformat()
                        if k == "received_at"
                        else ";".join(e[k])
                        if k in ("changed", "rewrites")
                        else e[k]
                        for k in CSV_COLUMNS
                    ]
                )
            sent += len(items)
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
            if cursor is None:
                break

    name = f"activity-{slug}-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.csv"
    return Stream(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


# ------------------------------------------------------------------------------------------- admins


async def _admins(page: Page, status: int = 200, **more: Any) -> Response[str]:
    async with page.services.db.pool.acquire() as conn:
        listed = await admins.list_admins(conn, page.tenant.id)
        keys = [
            dict(r)
            for r in await conn.fetch(
                "SELECT hint, label, created_at, last_used_at FROM public.admin_api_key WHERE tenant_id = $1 "
                "AND revoked_at IS NULL ORDER BY created_at",
                page.tenant.id,
            )
        ]
    return html(
        "admins.html",
        status=status,
        admins=listed,
        keys=keys,
        hub_url=f"{page.services.settings.public_url}/hub/{page.tenant.slug}/login",
        **page.context("admins", **more),
    )


@get("/{slug:str}/admins", include_in_schema=False)
async def admins_page(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[str]:
    return await _admins(await open_page(request, slug))


@post("/{slug:str}/admins", include_in_schema=False)
async def admins_invite(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[str]:
    page = await open_page(request, slug)
    form = await form_of(request, page)
    try:
        async with page.services.db.pool.acquire() as conn:
            password = await admins.create_admin(conn, page.tenant.id, form.get("email", ""))
    except AdminError as exc:
        return await _admins(page, status=400, error=f"Not invited: {exc}.")
    return await _admins(page, new_password=password, invited=form.get("email", "").strip())


@post("/{slug:str}/admins/api-keys", include_in_schema=False)
async def admins_api_key(request: Request[Any, Any, State], slug: FromPath[str]) -> Response[str]:
    page = await open_page(request, slug)
    form = await form_of(request, page)
    async with page.services.db.pool.acquire() as conn:
        key = await admins.create_api_key(conn, page.tenant.id, form.get("label", ""))
    return await _admins(page, new_key=key)


# ----------------------------------------------------------------------------------------- wiring


def _hub_error(request: Request[Any, Any, State], exc: HubError) -> Response[str]:
    slug = request.path_params.get("slug")
    return html("error.html", status=exc.status, heading=exc.heading, message=exc.message, principal=None, slug=slug)


def _sign_in(request: Request[Any, Any, State], exc: SignInRequired) -> Response[Any]:
    if exc.next_path == "password":
        return Redirect(f"/hub/{exc.slug}/password", status_code=303)
    query = urlencode({"next": exc.next_path, **({"expired": "1"} if exc.expired else {})})
    return Redirect(f"/hub/{exc.slug}/login?{query}", status_code=303)


def hub_router() -> Router:
    return Router(
        path="/hub",
        route_handlers=[
            login_page,
            login_submit,
            logout,
            password_page,
            password_submit,
            overview,
            connector_page,
            connector_toggle,
            connector_rotate,
            connector_revoke,
            notifications_page,
            notifications_save,
            notifications_test,
            activity_page,
            activity_entry,
            activity_csv,
            admins_page,
            admins_invite,
            admins_api_key,
        ],
        exception_handlers={HubError: _hub_error, SignInRequired: _sign_in},
    )
