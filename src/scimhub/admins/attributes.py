"""Declaring, changing and removing a tenant's custom attributes (issue #12), for every surface (CLI, hub,
admin API), each change with its admin-trail entry.

A declaration is checked (`scim.extensions.check_declaration`), then, in one tenant transaction: the values
already stored (kept as sent by a lenient tenant, or of the previous type) are checked against the new type
(refused, naming how many and one resource, when some do not convert; Entra's strings are rewritten to the
declared type when they do), the index a filter on it uses is made (unique when declared unique: refused when
two resources share a value), and the registry's version grows, so every web process rebuilds its cached
registry within its TTL (`provisioning/extensions.py`). Removing keeps the stored values (they are returned
as undeclared ones) until `delete_values`.

The caller opens the tenant scope (`tenancy.transaction.scoped` on the operator's connection,
`tenant_transaction` on the web's pool) and writes the trail entry after it commits (`record`): the tenant
role of the scope cannot write `public`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import msgspec

from scimhub.admins import trail
from scimhub.admins.model import Actor, AdminError
from scimhub.admins.vocabulary import AdminAction
from scimhub.scim.errors import InvalidValue
from scimhub.scim.extensions import (
    CONVERSION,
    MAX_DECLARED,
    MODES,
    Declared,
    check_declaration,
    index_ddl,
    index_name,
)
from scimhub.tenancy import attributes as rows
from scimhub.tenancy.db import Connection
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.transaction import tenant_transaction


class SchemaChange(msgspec.Struct, frozen=True, kw_only=True):
    """What a change did, for the trail and the surfaces' answers."""

    action: str  # declared, changed, removed, values deleted, mode
    path: str
    summary: str
    changes: list[tuple[str, str | None, str | None]] = []
    converted: int = 0


def declaration(
    resource_type: str,
    urn: str,
    name: str,
    type_: str,
    *,
    case_exact: bool = False,
    unique: bool = False,
    required: bool = False,
    multi_valued: bool = False,
    description: str = "",
) -> Declared:
    """A checked declaration from what an administrator typed; `AdminError` with the reason otherwise."""
    try:
        return check_declaration(
            Declared(
                resource_type,
                urn.strip(),
                name.strip(),
                type_,
                case_exact=case_exact,
                unique=unique,
                required=required,
                multi_valued=multi_valued,
                description=description.strip(),
            )
        )
    except InvalidValue as exc:
        raise AdminError(exc.detail) from None


def _describe(d: Declared | rows.AttributeRow) -> str:
    flags = [
        f
        for f, on in (
            ("multi-valued", d.multi_valued),
            ("case-exact", d.case_exact),
            ("unique", d.unique),
            ("required", d.required),
        )
        if on
    ]
    return d.type + (f" ({', '.join(flags)})" if flags else "")


async def _check_values(conn: Connection, d: Declared) -> int:
    """Refuse when stored values do not fit `d`'s type; rewrite the ones that convert. How many rewritten."""
    table = rows.TABLES[d.resource_type]
    fits, converts, converted = CONVERSION[d.type]
    v = "(doc->$1::text->$2::text)"
    present = f"jsonb_typeof(doc->$1::text) = 'object' AND (doc->$1::text) ? $2::text AND {v} <> 'null'::jsonb"
    if d.multi_valued:
        elem_fits = fits.replace("v", "e.v")
        bad_sql = (
            f"SELECT id FROM {table} WHERE {present} AND NOT (jsonb_typeof({v}) = 'array' AND NOT EXISTS "  # noqa: S608 - constant table names and SQL templates; values are bind parameters
            f"(SELECT 1 FROM jsonb_array_elements({v}) AS e(v) WHERE NOT ({elem_fits})))"
        )
        convert_sql = None
    else:

        def expr(template: str) -> str:
            return template.replace("v", v)  # the SQL templates name the value `v`

        bad_sql = f"SELECT id FROM {table} WHERE {present} AND NOT ({expr(fits)}) AND NOT ({expr(converts)})"  # noqa: S608 - constant table names and SQL templates; values are bind parameters
        convert_sql = (
            f"UPDATE {table} SET doc = jsonb_set(doc, ARRAY[$1::text, $2::text], {expr(converted)}), "  # noqa: S608 - constant table names and SQL templates; values are bind parameters
            f"version = version + 1 WHERE {present} AND NOT ({expr(fits)}) AND ({expr(converts)})"
        )
    bad = await conn.fetch(f"SELECT count(*) OVER () AS n, id FROM ({bad_sql}) AS b LIMIT 1", d.urn, d.name)  # noqa: S608 - constant table names and SQL templates; values are bind parameters
    if bad:
        raise AdminError(
            f"{bad[0]['n']} {d.resource_type.lower()}(s) hold a value of {d.path} that is not a valid "
            f"{'list of ' if d.multi_valued else ''}{d.type} (for example {d.resource_type} {bad[0]['id']}); "
            "correct or clear those values first, or declare another type"
        )
    if convert_sql is None:
        return 0
    status = await conn.execute(convert_sql, d.urn, d.name)
    return int(status.rsplit(" ", 1)[-1])


async def _drop_indexes(conn: Connection, resource_type: str, urn: str, name: str) -> None:
    for unique in (True, False):
        await conn.execute(f"DROP INDEX IF EXISTS {index_name(resource_type, urn, name, unique=unique)}")


async def declare(conn: Connection, d: Declared) -> SchemaChange:
    """Declare `d` or change its declaration (inside the caller's tenant scope; all or nothing)."""
    # Index builds over a large tenant take longer than the web's statement timeout.
    await conn.execute("SELECT set_config('statement_timeout', '0', true)")
    before = await rows.find(conn, d.resource_type, d.urn, d.name)
    if (before is None or before.status != "active") and await rows.count_active(conn) >= MAX_DECLARED:
        raise AdminError(f"a tenant may declare at most {MAX_DECLARED} custom attributes; remove some first")
    converted = await _check_values(conn, d)
    await _drop_indexes(conn, d.resource_type, d.urn, d.name)
    ddl = index_ddl(d, rows.TABLES[d.resource_type])
    if ddl is not None:
        try:  # an error aborts the caller's scope: nothing of the declaration is kept
            await conn.execute(ddl)
        except Exception as exc:  # asyncpg.UniqueViolationError (admins/ names no asyncpg type)
            if type(exc).__name__ == "UniqueViolationError":
                raise AdminError(
                    f"{d.path} cannot be declared unique: two {d.resource_type.lower()}s already share a value"
                ) from None
            raise
    await rows.upsert(
        conn,
        rows.AttributeRow(
            resource_type=d.resource_type,
            urn=d.urn,
            name=d.name,
            type=d.type,
            multi_valued=d.multi_valued,
            case_exact=d.case_exact,
            unique=d.unique,
            required=d.required,
            description=d.description,
        ),
    )
    if before is None or before.status != "active":
        return SchemaChange(
            action="declared",
            path=d.path,
            summary=f"declared custom attribute {d.path} ({d.resource_type}, {_describe(d)})",
            changes=[(d.path, None, _describe(d))],
            converted=converted,
        )
    return SchemaChange(
        action="changed",
        path=d.path,
        summary=f"changed custom attribute {d.path} ({d.resource_type}): {_describe(before)} -> {_describe(d)}",
        changes=[(d.path, _describe(before), _describe(d))],
        converted=converted,
    )


async def remove(conn: Connection, resource_type: str, urn: str, name: str) -> SchemaChange:
    """No longer declared: its index goes, its values stay (returned as undeclared ones) until deleted."""
    before = await rows.find(conn, resource_type, urn, name)
    if before is None or before.status != "active":
        raise AdminError(f"{urn}:{name} is not a declared {resource_type} attribute of this tenant")
    await _drop_indexes(conn, resource_type, before.urn, before.name)
    await rows.mark_removed(conn, resource_type, before.urn, before.name)
    path = f"{before.urn}:{before.name}"
    return SchemaChange(
        action="removed",
        path=path,
        summary=f"removed custom attribute {path} ({resource_type}); its stored values are kept until deleted",
        changes=[(path, _describe(before), None)],
    )


async def delete_values(conn: Connection, resource_type: str, urn: str, name: str) -> SchemaChange:
    """Delete the stored values of a removed (or never declared) attribute: the admin's confirmation."""
    before = await rows.find(conn, resource_type, urn, name)
    if before is not None and before.status == "active":
        raise AdminError(f"{urn}:{name} is still declared; remove it first, then delete its values")
    await conn.execute("SELECT set_config('statement_timeout', '0', true)")
    table = rows.TABLES[resource_type]
    key = before.urn if before else urn
    status = await conn.execute(
        f"""UPDATE {table} SET version = version + 1, last_modified = now(),
               doc = CASE WHEN (doc->$1::text) - $2::text = '{{}}'::jsonb THEN doc - $1::text
                          ELSE jsonb_set(doc, ARRAY[$1::text], (doc->$1::text) - $2::text) END
           WHERE jsonb_typeof(doc->$1::text) = 'object' AND (doc->$1::text) ? $2::text""",  # noqa: S608 - a constant table name
        key,
        before.name if before else name,
    )
    n = int(status.rsplit(" ", 1)[-1])
    await rows.forget(conn, resource_type, key, before.name if before else name)
    path = f"{key}:{before.name if before else name}"
    return SchemaChange(
        action="values deleted",
        path=path,
        summary=f"deleted the stored values of custom attribute {path} from {n} {resource_type.lower()}(s)",
        changes=[(path, f"{n} value(s)", None)],
    )


async def set_mode(conn: Connection, mode: str) -> SchemaChange:
    if mode not in MODES:
        raise AdminError(f"mode must be lenient or strict, not {mode[:40]!r}")
    before = await rows.set_mode(conn, mode)
    return SchemaChange(
        action="mode",
        path="",
        summary=f"set undeclared custom attributes to {mode} ({'kept as sent' if mode == 'lenient' else 'refused'})",
        changes=[("undeclared custom attributes", before, mode)],
    )


async def record(conn: Connection, tenant: Tenant, actor: Actor, change: SchemaChange) -> None:
    """The change's admin-trail entry (on a connection outside the tenant scope)."""
    await trail.record(
        conn,
        tenant.id,
        actor,
        AdminAction.SCHEMA_CHANGED,
        change.summary,
        changes=[trail.Change(f, b, a) for f, b, a in change.changes],
    )


async def change_schema(
    pool: asyncpg.Pool, tenant: Tenant, actor: Actor, change: Callable[[Connection], Awaitable[SchemaChange]]
) -> SchemaChange:
    """Run `change` in the tenant's transaction on the web's pool, then write its trail entry (the hub and the
    admin API). The caller forgets its cached registry; other processes see the change within the TTL."""
    async with tenant_transaction(pool, tenant) as conn:
        done = await change(conn)
    async with pool.acquire() as conn:
        await record(conn, tenant, actor, done)
    return done


class SchemaView(msgspec.Struct, frozen=True, kw_only=True):
    mode: str
    attributes: list[rows.AttributeRow]
    seen_not_declared: list[rows.SeenRow]


async def view(pool: asyncpg.Pool, tenant: Tenant) -> SchemaView:
    async with tenant_transaction(pool, tenant) as conn:
        state = await rows.load(conn, include_removed=True)
        seen = await rows.seen_not_declared(conn)
    return SchemaView(mode=state.mode, attributes=state.attributes, seen_not_declared=seen)
