"""Sentry, logs and metrics: errors reach Sentry, personal data and secrets never leave the process."""

from __future__ import annotations

import asyncio
import gzip
import json
import secrets
import sys
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from scimhub import tasks
from tests.support.factories import ENTERPRISE, entra_user
from tests.support.processes import Stack, start_web, stop_process
from tests.support.tenants import create_tenant
from tests.support.waiting import PATIENCE, wait_until

BIN = Path(sys.executable).parent


class SentrySink:
    """A local HTTP server that accepts Sentry envelopes (the DSN points here)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    raw = gzip.decompress(raw)
                elif encoding == "deflate":
                    raw = zlib.decompress(raw)
                sink.bodies.append(raw)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.port}/1"

    def text(self) -> str:
        return b"\n".join(self.bodies).decode("utf-8", "replace")

    def events(self) -> list[dict[str, Any]]:
        out = []
        for body in self.bodies:
            for line in body.splitlines():
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if isinstance(item, dict) and ("exception" in item or "message" in item):
                    out.append(item)
        return out

    def wait(self, timeout: float = PATIENCE) -> list[dict[str, Any]]:
        """Until at least one event arrived (a final state: the caller asserts on what arrived)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.events():
                return self.events()
            time.sleep(0.2)
        return self.events()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def sentry_sink() -> Iterator[SentrySink]:
    sink = SentrySink()
    yield sink
    sink.close()


def personal_values() -> dict[str, str]:
    tag = secrets.token_hex(5)
    return {
        "userName": f"jane.{tag}@corp-{tag}.test",
        "email": f"j.{tag}@mail-{tag}.test",
        "givenName": f"Janelle{tag}",
        "familyName": f"Okonkwo{tag}",
        "displayName": f"Janelle Okonkwo {tag}",
        "externalId": f"ext-{tag}-77",
    }


def user_body(pv: dict[str, str]) -> dict[str, Any]:
    return entra_user(
        userName=pv["userName"],
        externalId=pv["externalId"],
        displayName=pv["displayName"],
        name={"givenName": pv["givenName"], "familyName": pv["familyName"]},
        emails=[{"type": "work", "value": pv["email"], "primary": True}],
        password=f"pw-{secrets.token_hex(6)}",
        **{ENTERPRISE: {"department": "Sales"}},
    )


def assert_nothing_personal(text: str, pv: dict[str, str], token: str, extra: Sequence[str] = ()) -> None:
    for value in [*pv.values(), token, token[4:], *extra]:
        assert value not in text, f"{value!r} leaked"
    # Parts of values too (the name inside the email, etc.)
    for value in (pv["givenName"], pv["familyName"]):
        assert value.lower() not in text.lower()


async def test_failing_request_reaches_sentry_without_personal_data(
    database: str, admin: asyncpg.Connection, sentry_sink: SentrySink, tmp_path: Path
) -> None:
    t = await create_tenant(database)
    pv = personal_values()
    # A constraint the app does not expect: PostgreSQL's error quotes the failing row, personal data and all.
    await admin.execute(
        f"ALTER TABLE {t.tenant.schema}.scim_user ADD CONSTRAINT sentry_probe CHECK (user_name <> '{pv['userName']}')"
    )
    web = start_web(database, tmp_path / "web.log", {"SENTRY_DSN": sentry_sink.dsn, "SCIMHUB_LOG_FORMAT": "json"})
    try:
        async with httpx.AsyncClient(
            base_url=f"{web.url}/scim/v2/{t.slug}", timeout=15, headers={"Authorization": f"Bearer {t.token}"}
        ) as c:
            # The expected outcomes first: Sentry's transport sends events in order, so once the failure's event
            # is in, an event of these would be in too.
            ok = await c.get("/Users", params={"filter": f'userName eq "{pv["userName"]}"'})
            missing = await c.get("/Users/00000000-0000-0000-0000-000000000000")
            r = await c.post("/Users", json=user_body(pv))
        assert r.status_code == 500
        body = r.json()
        assert body["status"] == "500" and r.headers["x-request-id"] in body["detail"]
        assert ok.status_code == 200 and missing.status_code == 404
        events = sentry_sink.wait()
    finally:
        stop_process(web.process)
    assert len(events) == 1, "one error event; the 404 is an expected outcome and is not reported"
    event = events[0]
    assert event["exception"]["values"][-1]["type"] == "CheckViolationError"
    # Named after the handler, as Litestar's Sentry integration named it (not the URL, which names the tenant).
    assert event.get("transaction") == "scimhub.http.scim.create_resource"
    tags = event.get("tags", {})
    tags = dict(tags)  # a dict, or a list of [key, value] pairs
    assert tags.get("tenant") == t.slug and tags.get("request_id") == r.headers["x-request-id"]
    assert_nothing_personal(sentry_sink.text(), pv, t.token)
    assert_nothing_personal((tmp_path / "web.log").read_text(), pv, t.token)


async def test_failing_task_reaches_sentry_without_personal_data(
    database: str, admin: asyncpg.Connection, sentry_sink: SentrySink, tmp_path: Path
) -> None:
    t = await create_tenant(database)
    pv = personal_values()
    schema = t.tenant.schema
    await admin.execute(
        f"ALTER TABLE {schema}.activity_log ADD CONSTRAINT sentry_probe CHECK (target <> '{pv['userName']}')"
    )
    await admin.execute(
        f"INSERT INTO {schema}.audit_outbox (event) VALUES ($1::jsonb)",
        json.dumps(
            {
                "event_id": "6f1e1c9e-0000-4000-8000-000000000001",
                "received_at": "2026-11-29T10:00:00Z",
                "method": "POST",
                "path": "/Users",
                "operation": "Create user",
                "status": 201,
                "outcome": "success",
                "target": pv["userName"],
                "error_detail": pv["displayName"],
            }
        ),
    )
    # A stack of its own: the shared test Redis holds every nudge of the in-process app.
    stack = Stack(database, tmp_path, {"SENTRY_DSN": sentry_sink.dsn})
    stack.redis.start()
    stack.start_worker(pool="solo")  # the task runs in the worker's own process, beside its Sentry client
    try:
        tasks.enqueue_drain(stack.publisher(), [t.tenant.id])
        events = sentry_sink.wait()
    finally:
        stack.stop()
    await admin.execute(f"DELETE FROM {schema}.audit_outbox")  # leave no poisoned event for later tests
    assert events, (tmp_path / "worker.log").read_text()[-2000:]
    assert any(v["type"] == "CheckViolationError" for e in events for v in e["exception"]["values"])
    assert_nothing_personal(sentry_sink.text(), pv, t.token)
    assert_nothing_personal((tmp_path / "worker.log").read_text(), pv, t.token)


async def test_logs_of_a_full_scim_session_hold_no_token_or_personal_data(database: str, tmp_path: Path) -> None:
    t = await create_tenant(database)
    pv = personal_values()
    web = start_web(database, tmp_path / "web.log", {"SCIMHUB_LOG_FORMAT": "json"})
    try:
        async with httpx.AsyncClient(
            base_url=f"{web.url}/scim/v2/{t.slug}", timeout=15, headers={"Authorization": f"Bearer {t.token}"}
        ) as c:
            await c.get("/Users", params={"filter": f'userName eq "{pv["userName"]}"'})
            user = (await c.post("/Users", json=user_body(pv))).json()
            await c.post("/Users", json=user_body(pv))  # 409
            await c.patch(
                f"/Users/{user['id']}",
                json={
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Replace", "path": "displayName", "value": pv["displayName"] + "!"}],
                },
            )
            await c.get(f"/Users/{user['id']}")
            await c.post("/Users", content=b"{broken", headers={"Content-Type": "application/scim+json"})
            await c.delete(f"/Users/{user['id']}")
            await c.get("/Users", headers={"Authorization": "Bearer shs_some-other-secret-token"})
        # A request's line is written just after its answer went out: wait for the eighth before stopping.
        await wait_until(
            lambda: asyncio.to_thread((tmp_path / "web.log").read_text),
            lambda text: text.count('"msg":"request"') >= 8,
            "eight request lines in the log",
        )
    finally:
        stop_process(web.process)
    text = (tmp_path / "web.log").read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests = [entry for entry in lines if entry.get("msg") == "request"]
    assert len(requests) == 8
    assert {"request_id", "tenant", "method", "route", "status", "ms"} <= set(requests[0])
    assert requests[1]["route"] == "/scim/v2/{tenant}/Users" and requests[1]["status"] == 201
    assert_nothing_personal(text, pv, t.token, extra=["shs_some-other-secret-token"])


async def test_metrics_expose_counters_that_move(client: httpx.AsyncClient, database: str) -> None:
    t = await create_tenant(database)

    async def scrape() -> str:
        r = await client.get("/metrics")
        assert r.status_code == 200
        return r.text

    def value(text: str, prefix: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))

    before = await scrape()
    for _ in range(3):
        await client.get(f"{t.base}/Users", headers=t.auth)
    after = await scrape()
    key = 'scimhub_requests_total{method="GET",route="/scim/v2/{tenant}/Users",status="200"}'
    assert value(after, key) == value(before, key) + 3
    assert value(after, f'scimhub_tenant_requests_total{{tenant="{t.slug}"}}') == 3
    assert "scimhub_request_duration_seconds_bucket" in after
    assert "scimhub_outbox_backlog" in after


async def test_ready_reports_dependencies(client: httpx.AsyncClient) -> None:
    r = await client.get("/ready")
    assert r.status_code == 200
    body = r.json()
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"] == "ok"
    assert "outbox_backlog" in body["checks"]
    assert (await client.get("/health")).json() == {"status": "ok"}


def test_ready_fails_when_redis_is_down(database: str, tmp_path: Path) -> None:
    web = start_web(database, tmp_path / "web.log", {"SCIMHUB_REDIS_URL": "redis://127.0.0.1:1/0"})
    try:
        r = httpx.get(f"{web.url}/ready", timeout=10)
    finally:
        stop_process(web.process)
    assert r.status_code == 503
    assert r.json()["checks"]["redis"].startswith("unavailable")
