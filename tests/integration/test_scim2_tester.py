"""scim2-tester (PyPI), the RFC conformance checker of the python-scim project, against a running server."""

from __future__ import annotations

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from tests.support.processes import LiveServer
from tests.support.tenants import create_tenant


async def test_scim2_tester_passes_every_check(live_server: LiveServer, database: str) -> None:
    t = await create_tenant(database)
    with httpx2.Client(
        base_url=f"{live_server.url}/scim/v2/{t.slug}", headers={"Authorization": f"Bearer {t.token}"}, timeout=30
    ) as http:
        results = check_server(SyncSCIMClient(http))
    failures = [f"{r.title}: {r.reason}" for r in results if r.status not in (Status.SUCCESS, Status.SKIPPED)]
    assert not failures, "\n".join(failures)
    assert sum(r.status == Status.SUCCESS for r in results) >= 130
