"""No password, in any form a client can send, reaches the activity log or a log line (issue #11, item 5)."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from scimhub.audit import drain as audit_drain
from scimhub.http.services import Services
from tests.support.factories import entra_user, patch_body
from tests.support.scim import Scim
from tests.support.tenants import TenantHandle, create_tenant

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


async def test_no_password_form_reaches_the_activity_log_or_a_log_line(
    client: httpx.AsyncClient,
    admin: asyncpg.Connection,
    services: Services,
    database: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tenant: TenantHandle = await create_tenant(database)
    # Bodies of successful writes kept too; set before the tenant's first request, so no token cache holds it.
    await admin.execute("UPDATE public.tenant SET keep_write_bodies = true WHERE id = $1", tenant.tenant.id)
    scim = Scim(client, tenant)
    secrets = [f"pw-{i}-{uuid.uuid4().hex[:8]}" for i in range(16)]
    s = iter(secrets)
    caplog.set_level(logging.DEBUG)

    user = await scim.create_user(password=next(s))
    await scim.create_user(**{f"{CORE}:password": next(s)})
    await scim.create_user(**{CORE: {"password": next(s)}})
    uid = f"/Users/{user['id']}"
    patches: list[dict[str, Any]] = [
        {"op": "replace", "path": "password", "value": next(s)},
        {"op": "Replace", "path": "PASSWORD", "value": next(s)},
        {"op": "replace", "path": f"{CORE}:password", "value": next(s)},
        {"op": "replace", "value": {f"{CORE}:password": next(s)}},
        {"op": "replace", "value": {"PassWord": next(s)}},
    ]
    for op in patches:
        r = await scim.req("PATCH", uid, patch_body(op))
        assert r.status_code == 204, r.text
    r = await scim.req("PUT", uid, {**entra_user(userName=user["userName"]), f"{CORE}:password": next(s)})
    assert r.status_code == 200
    # Failures keep their bodies whatever the tenant's setting.
    failing = patch_body({"op": "replace", "path": "password", "value": next(s)}, {"op": "frobnicate"})
    assert (await scim.req("PATCH", uid, failing)).status_code == 400
    assert (await scim.req("POST", "/Users", entra_user(active="maybe", password=next(s)))).status_code == 400
    assert (await scim.req("GET", "/Users", params={"filter": f'password eq "{next(s)}"'})).status_code == 400
    assert (await scim.req("GET", "/Users", params={"filter": f"password eq {next(s)}"})).status_code == 400
    search = {"filter": f'userName eq "x" or {CORE}:password eq "{next(s)}"'}
    assert (await scim.req("POST", "/Users/.search", search)).status_code == 400
    bad_path = patch_body({"op": "replace", "path": f'password[value eq "{next(s)}"', "value": "x"})
    assert (await scim.req("PATCH", uid, bad_path)).status_code == 400

    await services.recorder.flush()
    await audit_drain.drain_tenant(services.db.pool, tenant.tenant)
    rows = [dict(r) for r in await admin.fetch(f"SELECT * FROM {tenant.tenant.schema}.activity_log")]
    assert len(rows) == 15  # every request has its entry: nothing was dropped to keep a secret out
    assert sum(1 for r in rows if r["request_body"] and "[removed]" in r["request_body"]) >= 12
    stored = json.dumps([{k: str(v) for k, v in r.items()} for r in rows])
    # What the service logs (its loggers and the access log on stderr); the test's own httpx client logs URLs.
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    logged += capsys.readouterr().err
    for secret in secrets:
        assert secret not in stored, [{k: v for k, v in r.items() if secret in str(v)} for r in rows]
        assert secret not in logged
