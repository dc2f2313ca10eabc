"""Every statement a tenant's requests send names only that tenant's schema plus `public` (#16 item 5).

The precondition of Citus schema-based sharding (docs/CITUS.md): a statement that touched two tenant schemas
could not be routed to one node. `pg_stat_statements` is not loaded on this server (`shared_preload_libraries`
is empty), so the driver records them: a web pool of its own whose every connection carries an asyncpg query
logger (made before the first request, and checked to be the same connections at the end, so none escaped),
an in-process app on it, the SCIM writes and reads Entra sends, the activity recorder's flush, the worker's
drain and the hub's activity page. For each tenant, alone, every statement text and every text argument is
searched for names of schemas, and of tenant roles, that exist in the database.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import asyncpg
import httpx
import msgspec
import pytest
from asyncpg.connection import LoggedQuery

from scimhub.app import create_app
from scimhub.audit import drain as audit_drain
from scimhub.audit.activity_filter import ActivityFilter
from scimhub.audit.queries import list_activity
from scimhub.http.services import Services
from scimhub.settings import Settings
from scimhub.tenancy.transaction import tenant_transaction
from tests.support.factories import entra_group, entra_user, patch_body
from tests.support.scim import Scim
from tests.support.settings import PUBLIC_URL
from tests.support.tenants import TenantHandle, create_tenant
from tests.support.waiting import wait_until

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# One statement text fragment for each part of `tenant_work`: the search must have seen them all. (How many
# statements there are in all is not fixed: asyncpg introspects types once per connection, and which of the pool's
# connections a request gets is up to the pool, so a count would pass or fail by timing; CI once saw 39 against a
# floor of 40.)
_EVERY_PART = {
    "the scope statement": "set_config('search_path'",
    "user create": "INSERT INTO scim_user",
    "user PATCH": "UPDATE scim_user SET",
    "user read": "FROM scim_user u WHERE u.id = $1",
    "group create": "INSERT INTO scim_group",
    "group member remove": "DELETE FROM scim_group_member",
    "user delete": "DELETE FROM scim_user",
    "the recorder's flush": "INSERT INTO activity_log",
    "the worker's drain": "DELETE FROM audit_outbox",
    "the hub's activity page": 'FROM "activity_log"',
}


class Recorded:
    def __init__(self, services: Services, client: httpx.AsyncClient) -> None:
        self.services = services
        self.client = client
        self.queries: list[LoggedQuery] = []
        self.watched: set[int] = set()

    def log(self, record: LoggedQuery) -> None:
        self.queries.append(record)


@pytest.fixture
async def recorded(settings: Settings, database: str) -> AsyncIterator[Recorded]:
    svc = await Services.start(msgspec.structs.replace(settings, db_connection_idle_seconds=0))
    app = create_app(settings, services=svc)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as client:  # type: ignore[arg-type]
        rec = Recorded(svc, client)
        held = [await svc.db.pool.acquire() for _ in range(settings.db_pool_size)]  # every connection, now
        for conn in held:
            conn.add_query_logger(rec.log)
            rec.watched.add(id(getattr(conn, "_con")))  # noqa: B009 - the connection under asyncpg's pool proxy
        for conn in held:
            await svc.db.pool.release(conn)
        yield rec
        holders = getattr(svc.db.pool, "_holders")  # noqa: B009 - asyncpg keeps its connections there
        live = {id(h._con) for h in holders if h._con is not None}
        assert live <= rec.watched, "the pool replaced a connection during the test: some statements escaped"
    await svc.stop()


async def tenant_work(rec: Recorded, t: TenantHandle) -> None:
    """What Entra sends for a tenant, then what the recorder, the worker and the hub do with its activity."""
    scim = Scim(rec.client, t)
    user = await scim.create_user()
    other = await scim.create_user()
    await scim.get(f"/Users/{user['id']}")
    await scim.find("/Users", f'userName eq "{user["userName"]}"')
    await scim.find("/Users", f'emails.value eq "{user["userName"]}"')
    await scim.get("/Users", startIndex="1", count="10")
    op = {"op": "Replace", "path": "active", "value": "False"}
    assert (await scim.req("PATCH", f"/Users/{user['id']}", patch_body(op))).status_code in (200, 204)
    group = (await scim.req("POST", "/Groups", entra_group())).json()
    add = {"op": "add", "path": "members", "value": [{"value": user["id"]}, {"value": other["id"]}]}
    assert (await scim.req("PATCH", f"/Groups/{group['id']}", patch_body(add))).status_code in (200, 204)
    remove = {"op": "remove", "path": f'members[value eq "{other["id"]}"]'}
    assert (await scim.req("PATCH", f"/Groups/{group['id']}", patch_body(remove))).status_code in (200, 204)
    await scim.find("/Groups", f'displayName eq "{group["displayName"]}"', excludedAttributes="members")
    assert (await scim.req("GET", "/Users/not-a-user")).status_code == 404
    assert (await scim.req("POST", "/Users", entra_user(userName=user["userName"]))).status_code == 409
    assert (await scim.req("DELETE", f"/Users/{other['id']}")).status_code == 204
    await rec.services.recorder.flush()
    await audit_drain.drain_tenants(rec.services.db.pool, rec.services.db.install_id, [t.tenant.id])

    async def entries() -> int:
        async with tenant_transaction(rec.services.db.pool, t.tenant) as conn:
            found, _ = await list_activity(conn, ActivityFilter(), limit=50)
        return len(found)

    await wait_until(entries, lambda n: n >= 14, "every request of the tenant in its activity log")


def names_in(record: LoggedQuery) -> set[str]:
    words = set(_NAME.findall(record.query))
    for arg in record.args or ():
        if isinstance(arg, str):
            words |= set(_NAME.findall(arg))
    return words


async def test_each_statement_of_a_tenant_names_only_its_schema_and_public(
    recorded: Recorded, database: str, admin: asyncpg.Connection
) -> None:
    a, b = await create_tenant(database), await create_tenant(database)
    schemas = {r["nspname"] for r in await admin.fetch("SELECT nspname FROM pg_namespace")}
    roles = {r["rolname"] for r in await admin.fetch("SELECT rolname FROM pg_roles WHERE rolname LIKE 'sh%\\_t%'")}
    tenant_schemas = {s for s in schemas if re.fullmatch(r"t_\d+", s)}
    allowed_shared = {"public", "pg_catalog"}
    for t in (a, b):
        recorded.queries.clear()
        await tenant_work(recorded, t)
        texts = [" ".join(q.query.split()) for q in recorded.queries]
        missing = [part for part, fragment in _EVERY_PART.items() if not any(fragment in text for text in texts)]
        assert not missing, f"no statement of {t.slug} came from {missing}: the search saw too little"
        own = {t.tenant.schema, t.tenant.role}
        seen_own = False
        for q in recorded.queries:
            named = names_in(q)
            foreign = (named & (tenant_schemas | roles)) - own
            assert not foreign, f"a statement of {t.slug} names {foreign}: {q.query[:300]}"
            other_schemas = (named & schemas) - allowed_shared - tenant_schemas
            assert not other_schemas, f"a statement of {t.slug} names {other_schemas}: {q.query[:300]}"
            seen_own = seen_own or bool(named & own)
        assert seen_own  # the scope statement names the tenant's schema and role: the search really looks
