"""`scimhub admin ...`: a tenant's administrators, their API keys and the admin trail."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from scimhub import admins
from scimhub.admins import OPERATOR, accounts, keys, scopes, trail
from scimhub.cli.common import MAX_ACTIVITY_LIMIT, UsageError, print_json, when
from scimhub.settings import Settings
from scimhub.tenancy import rules, tenants
from scimhub.tenancy.db import admin_connection


async def cmd_admin_create(settings: Settings, args: argparse.Namespace) -> int:
    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    async with admin_connection(settings.database_url) as conn:
        tenant = await tenants.get_tenant(conn, args.slug)
        generated = await admins.create_admin(conn, tenant.id, args.email, password)
    hub_url = f"{settings.public_url}/hub/{args.slug}/login"
    if args.json:
        out: dict[str, Any] = {"email": args.email, "slug": args.slug, "hub_url": hub_url}
        if generated:
            out["password"] = generated
        print(json.dumps(out))
        return 0
    print(f"created administrator {args.email} of tenant {args.slug}")
    print(f"  sign in at: {hub_url}")
    if generated:
        print(f"  one-time password: {generated}   (shown only now; a new password is chosen at first sign-in)")
    return 0


async def cmd_admin_list(settings: Settings, args: argparse.Namespace) -> int:
    async with admin_connection(settings.database_url) as conn:
        tenant = await tenants.get_tenant(conn, args.slug)
        found = await accounts.list_admins(conn, tenant.id)
    if args.json:
        print_json(found)
        return 0
    if not found:
        print(f"no administrators of {args.slug} yet: scimhub admin create {args.slug} EMAIL")
        return 0
    print(f"{'id':>6}  {'email':<40} {'status':<19} {'last sign-in':<16} sessions")
    for a in found:
        print(f"{a.id:>6}  {a.email:<40} {a.status:<19} {when(a.last_login_at):<16} {a.sessions}")
    return 0


async def cmd_admin_remove(settings: Settings, args: argparse.Namespace) -> int:
    async with admin_connection(settings.database_url) as conn:
        tenant = await tenants.get_tenant(conn, args.slug)
        admin_id = await accounts.find_admin_id(conn, tenant.id, args.email)
        try:
            removed = await accounts.remove_admin(conn, tenant.id, admin_id, OPERATOR)
        except admins.NotFound:
            raise tenants.TenantError(f"{args.email} is not an administrator of {args.slug}") from None
    print(f"removed administrator {removed.email} of tenant {args.slug} ({removed.sessions} session(s) ended)")
    return 0


async def cmd_admin_log(settings: Settings, args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= MAX_ACTIVITY_LIMIT:
        raise UsageError(f"--limit must be between 1 and {MAX_ACTIVITY_LIMIT}")
    f = trail.parse_trail_filter(since=args.since, action=args.action, actor=args.actor)
    async with admin_connection(settings.database_url) as conn:
        tenant = await tenants.get_tenant(conn, args.slug)
        items, _ = await trail.list_trail(conn, tenant.id, f, limit=args.limit)
    if args.json:
        print_json(items)
        return 0
    if not items:
        print(f"nothing in the admin trail of {args.slug} yet")
        return 0
    for e in items:
        changes = "; ".join(f"{c.field}: {c.before or '-'} -> {c.after or '-'}" for c in e.changes)
        print(
            f"{e.at:%Y-%m-%d %H:%M:%S}  {e.outcome:<7}  {e.action_label:<30} {e.actor} "
            f"({e.client_ip or 'local'}): {e.summary}{'  [' + changes + ']' if changes else ''}"
        )
    return 0


async def cmd_admin_api_key(settings: Settings, args: argparse.Namespace) -> int:
    """`admin api-key SLUG` (create; also `create SLUG`), `admin api-key list SLUG`, `... revoke SLUG KEY_ID`."""
    words: list[str] = args.words
    verb, rest = (
        (words[0], words[1:]) if words[0] in ("create", "list", "revoke") and len(words) > 1 else ("create", words)
    )
    if verb == "revoke":
        if len(rest) != 2 or not rest[1].isdigit():
            raise UsageError("usage: scimhub admin api-key revoke SLUG KEY_ID (the id `admin api-key list` shows)")
        return await _api_key_revoke(settings, rest[0], int(rest[1]))
    if len(rest) != 1:
        raise UsageError(f"usage: scimhub admin api-key {verb} SLUG")
    if verb == "list":
        return await _api_key_list(settings, rest[0], as_json=args.json)
    return await _api_key_create(settings, args, rest[0])


async def _api_key_list(settings: Settings, slug: str, *, as_json: bool) -> int:
    async with admin_connection(settings.database_url) as conn:
        tenant = await tenants.get_tenant(conn, slug)
        listed = await keys.list_api_keys(conn, tenant.id)
    if as_json:
        print_json(listed)
        return 0
    if not listed:
        print(f"no usable admin API keys of {slug}")
        return 0
    print(f"{'id':>6}  {'key':<6} {'label':<24} {'expires':<16} {'last used':<16} scopes")
    for k in listed:
        print(
            f"{k.id:>6}  {k.hint:<6} {k.label[:24]:<24} {when(k.expires_at):<16} {when(k.last_used_at):<16} "
            f"{' '.join(k.scopes)}"
        )
    return 0


async def _api_key_revoke(settings: Settings, slug: str, key_id: int) -> int:
    async with admin_connection(settings.database_url) as conn:
        tenant = await tenants.get_tenant(conn, slug)
        try:
            revoked = await keys.revoke_api_key(conn, tenant.id, key_id, OPERATOR)
        except admins.NotFound:
            raise tenants.TenantError(f"tenant {slug} has no usable API key {key_id}") from None
    print(f"revoked admin API key {revoked.id} ({revoked.label or 'no label'} {revoked.hint}) of tenant {slug}")
    return 0


async def _api_key_create(settings: Settings, args: argparse.Namespace, slug: str) -> int:
    try:
        chosen = scopes.parse_scopes(args.scope) if args.scope is not None else list(scopes.DEFAULT_SCOPES)
    except admins.AdminError as exc:
        raise UsageError(str(exc)) from None
    days = int(rules.parse_duration(args.expires).total_seconds() // 86400) if args.expires else None
    if args.expires and not days:
        raise UsageError("--expires must be at least 1d (e.g. 30d, 90d)")
    async with admin_connection(settings.database_url) as conn:
        tenant = await tenants.get_tenant(conn, slug)
        issued = await keys.issue_api_key(
            conn, tenant.id, OPERATOR, label=args.label or "", scopes=chosen, expires_in_days=days
        )
    if args.json:
        print(json.dumps({"slug": slug, "api_key": issued.key, "id": issued.info.id, "scopes": issued.info.scopes}))
    else:
        print(f"admin API key (shown only now): {issued.key}")
        print(f"  id {issued.info.id}, scopes: {' '.join(issued.info.scopes)}, expires: {when(issued.info.expires_at)}")
    return 0
