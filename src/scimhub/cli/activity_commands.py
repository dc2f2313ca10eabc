"""`scimhub activity` and `scimhub events`: a tenant's activity log and its change-event feed."""

from __future__ import annotations

import argparse
import json

from scimhub.audit.activity_filter import parse_filter
from scimhub.cli.common import MAX_ACTIVITY_LIMIT, UsageError, activity_json
from scimhub.events import feed
from scimhub.settings import Settings
from scimhub.tenancy import tenants
from scimhub.tenancy.db import admin_connection
from scimhub.tenancy.transaction import scoped


async def cmd_activity(settings: Settings, args: argparse.Namespace) -> int:
    from scimhub.audit import queries  # only here: it loads the table definitions (~0.1 s per command)

    if not 1 <= args.limit <= MAX_ACTIVITY_LIMIT:
        raise UsageError(f"--limit must be between 1 and {MAX_ACTIVITY_LIMIT}")
    f = parse_filter(since=args.since, outcome=args.outcome, operation=args.operation, text=args.search)
    async with admin_connection(settings.database_url) as conn:
        tenant = await tenants.get_tenant(conn, args.slug)
        async with scoped(conn, tenant):
            items, _ = await queries.list_activity(conn, f, limit=args.limit)
    if args.json:
        print(json.dumps([activity_json(item) for item in items]))
        return 0
    if not items:
        print(f"no activity for {args.slug} yet")
        return 0
    for item in items:
        detail = f"  {item.error_type}: {item.error_detail}" if item.error_detail else ""
        print(
            f"{item.received_at:%Y-%m-%d %H:%M:%S}  {item.status}  {item.outcome:<9}  "
            f"{item.operation:<16} {item.target or item.resource_id or ''}{detail}"
        )
    return 0


async def cmd_events(settings: Settings, args: argparse.Namespace) -> int:
    """The tenant's change feed after a cursor, oldest first; the last line (or `cursor`) is where to go on."""
    async with admin_connection(settings.database_url) as conn:
        tenant = await tenants.get_tenant(conn, args.slug)
        async with scoped(conn, tenant):
            page = await feed.read_feed(conn, tenant.slug, args.after, args.limit)
    if args.json:
        print(
            json.dumps(
                {"events": [feed.event_json(e) for e in page.events], "cursor": page.cursor, "has_more": page.has_more}
            )
        )
        return 0
    for e in page.events:
        print(f"{e.position:>8}  {e.occurred_at:%Y-%m-%d %H:%M:%S}  {e.type:<22} {e.resource_type} {e.resource_id}")
    print(f"cursor {page.cursor}" + (" (more: run again with --after it)" if page.has_more else ""))
    return 0
