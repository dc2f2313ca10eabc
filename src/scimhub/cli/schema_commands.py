"""`scimhub tenant schema ...`: a tenant's custom attributes (issue #12), each change with its trail entry."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from typing import Any

from scimhub import admins
from scimhub.admins import OPERATOR, attributes
from scimhub.cli.common import print_json
from scimhub.settings import Settings
from scimhub.tenancy import attributes as attribute_rows
from scimhub.tenancy import tenants
from scimhub.tenancy.db import admin_connection
from scimhub.tenancy.transaction import scoped


async def _schema_change(settings: Settings, slug: str, change: Callable[[Any], Coroutine[Any, Any, Any]]) -> Any:
    """Run one custom-attribute change in the tenant's scope, then write its trail entry (issue #12)."""
    async with admin_connection(settings.database_url) as conn:
        tenant = await tenants.get_tenant(conn, slug)
        async with scoped(conn, tenant) as scope:
            done = await change(scope)
        await attributes.record(conn, tenant, OPERATOR, done)
    return done


async def cmd_schema(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "list":
        async with admin_connection(settings.database_url) as conn:
            tenant = await tenants.get_tenant(conn, args.slug)
            async with scoped(conn, tenant) as scope:
                state = await attribute_rows.load(scope, include_removed=True)
                seen = await attribute_rows.seen_not_declared(scope)
        if args.json:
            print_json({"mode": state.mode, "attributes": state.attributes, "seen_not_declared": seen})
            return 0
        print(f"tenant {args.slug}: undeclared custom attributes are {state.mode}")
        for a in state.attributes:
            flags = " ".join(
                f
                for f, on in (
                    ("unique", a.unique),
                    ("required", a.required),
                    ("case-exact", a.case_exact),
                    ("multi-valued", a.multi_valued),
                )
                if on
            )
            removed = " (removed, values kept)" if a.status == "removed" else ""
            print(f"  {a.resource_type:<5} {a.urn}:{a.name}  {a.type} {flags}{removed}".rstrip())
        for s in seen:
            print(f"  {s.resource_type:<5} {s.urn}:{s.name}  seen, not declared")
        return 0
    if args.command == "add-attribute":
        d = attributes.declaration(
            args.resource_type,
            args.urn,
            args.name,
            args.type,
            case_exact=args.case_exact,
            unique=args.unique,
            required=args.required,
            multi_valued=args.multi_valued,
            description=args.description or "",
        )
        done = await _schema_change(settings, args.slug, lambda c: attributes.declare(c, d))
    elif args.command == "remove-attribute":
        if args.delete_values and not args.yes:
            print(f"would delete every stored value of {args.urn}:{args.name}; add --yes to do it")
            return 1

        async def _remove(c: Any) -> Any:
            found = await attribute_rows.find(c, args.resource_type, args.urn, args.name)
            if found is not None and found.status == "active":
                removed = await attributes.remove(c, args.resource_type, args.urn, args.name)
                if not args.delete_values:
                    return removed
            if not args.delete_values:
                raise admins.AdminError(f"{args.urn}:{args.name} is not a declared {args.resource_type} attribute")
            return await attributes.delete_values(c, args.resource_type, args.urn, args.name)

        done = await _schema_change(settings, args.slug, _remove)
    else:
        done = await _schema_change(settings, args.slug, lambda c: attributes.set_mode(c, args.mode))
    print(f"tenant {args.slug}: {done.summary}" + (f"; {done.converted} value(s) converted" if done.converted else ""))
    return 0
