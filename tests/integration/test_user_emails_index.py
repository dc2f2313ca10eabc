"""The email index (tenant migrations m0040, m0080, m0090): its function is PL/pgSQL with the same values as the
SQL body it replaced, the `emails` column it fills is what an emails filter's index reads, and a user write that
leaves the emails as they were is a HOT update (no new entry in any index)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from scimhub.http.services import Services
from scimhub.scim.schemas import RESOURCE_TYPES
from scimhub.store import resources
from scimhub.tenancy.transaction import tenant_transaction
from tests.support.scim import Scim
from tests.support.tenants import create_tenant

_SQL_BODY = """SELECT coalesce(array_agg(lower(e ->> 'value')), '{}'::text[])
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof($1::jsonb -> 'emails') = 'array' THEN $1::jsonb -> 'emails'
                                   ELSE '[]'::jsonb END) AS e"""  # m0040's function body, as a query

DOCS = [
    {},
    {"emails": None},
    {"emails": "ada@example.com"},
    {"emails": {"value": "ada@example.com"}},
    {"emails": []},
    {"emails": [{"value": "Ada.Lovelace@Example.COM", "type": "work"}]},
    {"emails": [{"value": "a@x.org"}, {"type": "home"}, {"value": None}, {"value": 7}, {"value": "ÉCOLE@X.FR"}]},
    {"emails": [1, "b@x.org", [{"value": "c@x.org"}]]},
]


@pytest.mark.parametrize("doc", DOCS, ids=range(len(DOCS)))
async def test_the_function_gives_what_the_sql_body_gave(services: Services, database: str, doc: object) -> None:
    tenant = (await create_tenant(database)).tenant
    async with tenant_transaction(services.db.pool, tenant) as conn:
        assert await conn.fetchval("SELECT scim_user_emails($1::jsonb)", json.dumps(doc)) == await conn.fetchval(
            _SQL_BODY, json.dumps(doc)
        )
        assert await conn.fetchval("SELECT scim_user_emails(NULL)") is None  # STRICT, as before


async def test_the_function_is_plpgsql_and_an_emails_filter_uses_its_index(services: Services, database: str) -> None:
    tenant = (await create_tenant(database)).tenant
    async with tenant_transaction(services.db.pool, tenant) as conn:
        language = await conn.fetchval(
            "SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
            "WHERE p.oid = 'scim_user_emails(jsonb)'::regprocedure"
        )
        assert language == "plpgsql"
        indexed = await conn.fetchval(
            "SELECT pg_get_indexdef('scim_user_emails'::regclass)"
        )  # on the generated column (m0090), not on an expression of the document
        assert indexed.endswith("USING gin (emails)"), indexed
        await conn.execute("SET LOCAL enable_seqscan = off")  # a new tenant's table is tiny
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN SELECT id FROM scim_user u WHERE u.emails @> ARRAY[lower($1::text)]", "a@x.org"
            )
        )
        assert "scim_user_emails" in plan and "Index" in plan, plan


async def test_a_user_write_that_keeps_the_emails_is_a_hot_update(scim: Scim, services: Services) -> None:
    created = [await scim.create_user() for _ in range(3)]
    rid = uuid.UUID(created[1]["id"])
    user = RESOURCE_TYPES["User"]
    async with tenant_transaction(services.db.pool, scim.t.tenant) as conn:
        row = await resources.get(conn, user, rid, related=False)
        assert row is not None
        now = dt.datetime.now(dt.UTC)
        # the counters of this transaction, read inside it: exact, whatever else the server does
        counts = (
            "SELECT ARRAY[pg_stat_get_xact_tuples_updated(c), pg_stat_get_xact_tuples_hot_updated(c)] "
            "FROM CAST('scim_user'::regclass AS oid) AS c"
        )
        await resources.update(conn, user, rid, {**row.doc, "displayName": "Renamed", "title": "CTO"}, now)
        assert await conn.fetchval(counts) == [1, 1]  # what Entra's PATCH of a name does: in place
        moved = {**row.doc, "emails": [{"value": "New.Address@Example.com", "type": "work", "primary": True}]}
        await resources.update(conn, user, rid, moved, now)
        assert await conn.fetchval(counts) == [2, 1]  # a new email must reach the index: not HOT
        assert await conn.fetchval("SELECT emails FROM scim_user WHERE id = $1", rid) == ["new.address@example.com"]
        assert (
            await conn.fetchval("SELECT count(*) FROM scim_user WHERE emails IS DISTINCT FROM scim_user_emails(doc)")
            == 0
        )


async def test_an_emails_filter_follows_a_changed_address(scim: Scim) -> None:
    user = await scim.create_user(emails=[{"value": "old.one@example.com", "type": "work", "primary": True}])
    r = await scim.req(
        "PATCH",
        f"/Users/{user['id']}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": 'emails[type eq "work"].value', "value": "New.One@Example.com"}],
        },
    )
    assert r.status_code in (200, 204), r.text
    found = await scim.find("/Users", 'emails eq "new.one@example.com"')
    assert [u["id"] for u in found["Resources"]] == [user["id"]]
    assert (await scim.find("/Users", 'emails.value eq "OLD.ONE@example.com"'))["totalResults"] == 0
