"""`scimhub migrate`, `scimhub tenant ...` and `scimhub tenant token ...`: tenants, their settings and Secret Tokens."""

from __future__ import annotations

import argparse

from scimhub.admins import OPERATOR, actions
from scimhub.cli.common import UsageError, print_issued, print_json
from scimhub.settings import Settings
from scimhub.tenancy import rules, tenants
from scimhub.tenancy.db import admin_connection
from scimhub.tenancy.migrate import migrate, migration_from_file
from scimhub.tenancy.names import check_slug


async def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    try:
        extra = [migration_from_file(path) for path in args.with_tenant_migration or ()]
    except (OSError, ValueError) as exc:
        raise UsageError(f"--with-tenant-migration: {exc}") from None
    await migrate(
        settings.database_url,
        app_database_url=settings.app_database_url,
        progress=lambda line: print(line, flush=True),
        extra_tenant_migrations=extra,
    )
    return 0


async def cmd_tenant_create(settings: Settings, args: argparse.Namespace) -> int:
    emails = rules.parse_recipients(args.notify_email) if args.notify_email else []
    async with admin_connection(settings.database_url) as conn:
        issued = await tenants.create_tenant(
            conn, args.slug, public_url=settings.public_url, name=args.name, notify_emails=emails
        )
    print_issued(issued, args.json, "created")
    return 0


async def cmd_tenant_list(settings: Settings, args: argparse.Namespace) -> int:
    if args.after is not None:
        check_slug(args.after)
    async with admin_connection(settings.database_url) as conn:
        page = await tenants.list_tenants(conn, after=args.after, limit=args.limit)
    if args.json:
        print_json(page)
        return 0
    if not page.tenants:
        print("no tenants yet: scimhub tenant create SLUG" if args.after is None else f"no tenants after {args.after}")
        return 0
    print(f"{'slug':<24} {'status':<9} {'tokens':>6}  {'schema':<10} scim url")
    for t in page.tenants:
        print(
            f"{t.slug:<24} {t.status:<9} {t.active_tokens:>6}  {t.schema:<10} "
            f"{tenants.scim_url(settings.public_url, t.slug)}"
        )
    if page.next is not None:
        print(f"more: scimhub tenant list --limit {args.limit} --after {page.next}")
    return 0


async def cmd_tenant_status(settings: Settings, args: argparse.Namespace) -> int:
    status = "active" if args.command == "enable" else "disabled"
    async with admin_connection(settings.database_url) as conn:
        tenant = await tenants.get_tenant(conn, args.slug)
        await actions.switch_connector(conn, tenant, OPERATOR, active=status == "active")
    print(f"tenant {args.slug}: SCIM connector {'on' if status == 'active' else 'off'}")
    return 0


async def cmd_tenant_delete(settings: Settings, args: argparse.Namespace) -> int:
    if args.dry_run or not args.yes:
        async with admin_connection(settings.database_url) as conn:
            found = await tenants.get_tenant(conn, args.slug)
        print(
            f"would drop tenant {args.slug} (schema {found.schema}, all its users, groups and activity); "
            "add --yes to do it"
        )
        return 0 if args.dry_run else 1
    async with admin_connection(settings.database_url) as conn:
        await tenants.delete_tenant(conn, args.slug)
    print(f"deleted tenant {args.slug}")
    return 0


async def cmd_token_rotate(settings: Settings, args: argparse.Namespace) -> int:
    keep = rules.check_overlap_duration(rules.parse_duration(args.keep_old_for)) if args.keep_old_for else None
    async with admin_connection(settings.database_url) as conn:
        tenant = await tenants.get_tenant(conn, args.slug)
        issued = await actions.rotate_token(conn, tenant, OPERATOR, public_url=settings.public_url, keep_old_for=keep)
    print_issued(issued, args.json, "rotated the token of")
    if not args.json:
        print(f"  older tokens {'stop working now' if not keep else f'keep working for {args.keep_old_for}'}")
    return 0


async def cmd_token_revoke(settings: Settings, args: argparse.Namespace) -> int:
    async with admin_connection(settings.database_url) as conn:
        tenant = await tenants.get_tenant(conn, args.slug)
        n = await actions.revoke_tokens(conn, tenant, OPERATOR)
    print(
        f"revoked {n} token(s) of tenant {args.slug}; SCIM requests now get 401 until a new token is issued "
        f"(scimhub tenant token rotate {args.slug})"
    )
    return 0


async def cmd_tenant_set(settings: Settings, args: argparse.Namespace) -> int:
    emails = rules.parse_recipients(args.notify_email) if args.notify_email is not None else None
    enabled = None if args.notify is None else args.notify == "on"
    rate_limit = rules.parse_rate_limit(args.rate_limit) if args.rate_limit is not None else None
    if args.digest_window is not None:
        rules.check_digest_window(args.digest_window)
    async with admin_connection(settings.database_url) as conn, conn.transaction():
        tenant = await tenants.get_tenant(conn, args.slug)
        if emails is not None or enabled is not None or args.digest_window is not None:
            await actions.change_notifications(
                conn, tenant, OPERATOR, emails=emails, enabled=enabled, window_minutes=args.digest_window
            )
        if args.rate_limit is not None:
            await actions.change_rate_limit(conn, tenant, OPERATOR, rate_limit, default=settings.rate_limit)
    saved = "settings saved" if args.rate_limit is not None else "notification settings saved"
    if args.rate_limit is not None:
        window = settings.rate_limit_window_seconds
        shown = f"{rate_limit}" if rate_limit is not None else f"the default ({settings.rate_limit})"
        saved += f"; rate limit {shown} requests per {window} s"
    print(f"tenant {args.slug}: {saved}")
    return 0
