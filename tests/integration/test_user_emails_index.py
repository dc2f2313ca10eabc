"""The email index's function (tenant migrations m0040, m0080): PL/pgSQL, the same values as the SQL body it
replaced (so indexes built before stay valid), and still the index an emails filter uses."""

from __future__ import annotations

import json

import pytest

from scimhub.http.services import Services
from scimhub.tenancy.transaction import tenant_transaction
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
        await conn.execute("SET LOCAL enable_seqscan = off")  # a new tenant's table is tiny
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN SELECT id FROM scim_user u WHERE scim_user_emails(u.doc) @> ARRAY[lower($1::text)]", "a@x.org"
            )
        )
        assert "scim_user_emails" in plan and "Index" in plan, plan
