"""`scimhub`: the operator command.

Every command is a small async function returning an exit code; an error prints one line to stderr and
exits 1 (2 for usage errors). Tokens are printed once, at creation or rotation, and never logged.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec

from scimhub import admins
from scimhub.admins import OPERATOR, accounts, actions, attributes, keys, scopes, trail
from scimhub.admins.vocabulary import AdminAction
from scimhub.audit.activity_filter import FilterRejected, parse_filter
from scimhub.audit.vocabulary import OUTCOME_FILTERS, OUTCOME_LABELS
from scimhub.events import feed, host_keys, webhooks
from scimhub.events.targets import UnsafeTarget
from scimhub.events.vocabulary import PatternRejected
from scimhub.scim.extensions import TYPES
from scimhub.settings import Settings, SettingsError, load_settings
from scimhub.tenancy import attributes as attribute_rows
from scimhub.tenancy import rules, tenants
from scimhub.tenancy.db import DatabaseNotMigrated, admin_connection
from scimhub.tenancy.migrate import migrate, migration_from_file
from scimhub.tenancy.names import InvalidSlug, check_slug
from scimhub.tenancy.roles import RoleError
from scimhub.tenancy.transaction import scoped

if TYPE_CHECKING:
    from scimhub.audit import queries

MAX_ACTIVITY_LIMIT = 10_000


class UsageError(Exception):
    pass


def _activity_json(e: queries.ActivityEntry) -> dict[str, Any]:
    """An entry as `activity --json` prints it: times in ISO 8601, ids as strings, no bodies."""
    out: dict[str, Any] = {}
    for k, v in msgspec.structs.asdict(e).items():
        if k in ("request_body", "response_body"):
            continue
        out[k] = v.isoformat() if isinstance(v, dt.datetime) else str(v) if k == "event_id" else v
    return out


def _print_json(value: Any) -> None:
    print(json.dumps(msgspec.to_builtins(value), indent=None))


def _issued(issued: tenants.IssuedToken, as_json: bool, verb: str) -> None:
    if as_json:
        _print_json(issued)
        return
    print(f"{verb} tenant {issued.slug}")
    print(f"  Tenant URL:   {issued.scim_url}")
    print(f"  Secret Token: {issued.token}")
    print("  (the token is shown only now; paste both into Entra ID > Provisioning > Admin Credentials)")


# ------------------------------------------------------------------------------------------- commands


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
    _issued(issued, args.json, "created")
    return 0


async def cmd_tenant_list(settings: Settings, args: argparse.Namespace) -> int:
    if args.after is not None:
        check_slug(args.after)
    async with admin_connection(settings.database_url) as conn:
        page = await tenants.list_tenants(conn, after=args.after, limit=args.limit)
    if args.json:
        _print_json(page)
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
    _issued(issued, args.json, "rotated the token of")
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
            _print_json({"mode": state.mode, "attributes": state.attributes, "seen_not_declared": seen})
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
        print(json.dumps([_activity_json(item) for item in items]))
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


def _endpoint_json(e: webhooks.Endpoint) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(e)
    return out


async def cmd_webhook(settings: Settings, args: argparse.Namespace) -> int:
    """`webhook add SLUG URL`, `list SLUG`, `remove SLUG ID`, `rotate-secret SLUG ID`, `enable SLUG ID`,
    `deliveries SLUG ID`, `redeliver SLUG ID POSITION`."""
    words: list[str] = args.words
    verb, rest = words[0], words[1:]
    arity = {"add": 2, "list": 1, "remove": 2, "rotate-secret": 2, "enable": 2, "deliveries": 2, "redeliver": 3}
    if verb not in arity or len(rest) != arity[verb]:
        raise UsageError(
            "use: webhook add SLUG URL [--events user.*,group.*] | list SLUG | remove SLUG ID | rotate-secret SLUG ID"
            " | enable SLUG ID | deliveries SLUG ID | redeliver SLUG ID POSITION"
        )
    try:
        async with admin_connection(settings.database_url) as conn:
            tenant = await tenants.get_tenant(conn, rest[0])
            changed: tuple[AdminAction, str] | None = None
            made: webhooks.CreatedEndpoint | None = None
            found: list[webhooks.Endpoint] = []
            shown: list[webhooks.Delivery] = []
            async with scoped(conn, tenant):
                if verb == "add":
                    made = await webhooks.add_endpoint(
                        conn,
                        rest[1],
                        args.events,
                        secret_key=settings.secret_key,
                        allow_private=settings.webhook_allow_private,
                    )
                    changed = (AdminAction.WEBHOOK_CREATED, f"added the webhook endpoint {made.endpoint.url[:200]}")
                elif verb == "list":
                    found = await webhooks.list_endpoints(conn)
                elif verb == "remove":
                    gone = await webhooks.remove_endpoint(conn, webhooks.parse_endpoint_id(rest[1]))
                    changed = (AdminAction.WEBHOOK_REMOVED, f"removed the webhook endpoint {gone.url[:200]}")
                elif verb == "rotate-secret":
                    made = await webhooks.rotate_secret(
                        conn, webhooks.parse_endpoint_id(rest[1]), secret_key=settings.secret_key
                    )
                    changed = (AdminAction.WEBHOOK_CHANGED, f"rotated the signing secret of {made.endpoint.url[:200]}")
                elif verb == "enable":
                    on = await webhooks.enable_endpoint(conn, webhooks.parse_endpoint_id(rest[1]))
                    changed = (AdminAction.WEBHOOK_CHANGED, f"enabled the webhook endpoint {on.url[:200]}")
                elif verb == "deliveries":
                    shown = await webhooks.list_deliveries(conn, webhooks.parse_endpoint_id(rest[1]))
                else:
                    if not rest[2].isdigit():
                        raise UsageError("POSITION is the event's feed position (a whole number)")
                    await webhooks.request_redelivery(conn, webhooks.parse_endpoint_id(rest[1]), int(rest[2]))
            if changed is not None:
                await trail.record(conn, tenant.id, OPERATOR, changed[0], changed[1])
    except (webhooks.WebhookError, UnsafeTarget, PatternRejected) as exc:
        raise UsageError(str(exc)) from None
    if made is not None:
        if args.json:
            print(json.dumps({**_endpoint_json(made.endpoint), "secret": made.secret}))
        else:
            print(f"webhook endpoint {made.endpoint.id} -> {made.endpoint.url}")
            print(f"  signing secret: {made.secret}")
            print("  (shown only now; verify each delivery's webhook-signature with it, Standard Webhooks)")
    elif verb == "list":
        if args.json:
            print(json.dumps([_endpoint_json(e) for e in found]))
        for e in found if not args.json else []:
            state = "enabled" if e.enabled else f"disabled {_when(e.disabled_at)}"
            print(f"{e.id}  {state:<10} {e.url}  events: {','.join(e.events) or '*'}  cursor {e.cursor}")
    elif verb == "deliveries":
        if args.json:
            print(json.dumps([msgspec.to_builtins(d) for d in shown]))
        for d in shown if not args.json else []:
            print(
                f"{_when(d.attempted_at)}  {d.position:>8}  attempt {d.attempt}  {d.status:<11} "
                f"{d.response_status or '-'}  {d.latency_ms or 0:.0f} ms  {d.error or ''}"
            )
    else:
        print(f"webhook {verb}: done")
    return 0


async def cmd_host_key(settings: Settings, args: argparse.Namespace) -> int:
    """`host-key create [--label]` (the key is shown once), `host-key list`, `host-key revoke ID`."""
    words: list[str] = args.words
    arity = {"create": 0, "list": 0, "revoke": 1}
    if words[0] not in arity or len(words) - 1 != arity[words[0]]:
        raise UsageError("use: host-key create [--label TEXT] | host-key list | host-key revoke ID")
    async with admin_connection(settings.database_url) as conn:
        if words[0] == "create":
            issued = await host_keys.create_host_key(conn, args.label or "")
            if args.json:
                print(json.dumps({**msgspec.to_builtins(issued.key), "key": issued.secret}))
            else:
                print(f"host application key {issued.key.id}: {issued.secret}")
                print("  (shown only now; it reads every tenant through /host/api, never writes)")
        elif words[0] == "list":
            found = await host_keys.list_host_keys(conn)
            if args.json:
                print(json.dumps(msgspec.to_builtins(found)))
            for k in found if not args.json else []:
                print(
                    f"{k.id:>4}  ...{k.hint}  {k.label or '-'}  "
                    f"created {_when(k.created_at)}  used {_when(k.last_used_at)}"
                )
        else:
            if not words[1].isdigit():
                raise UsageError("ID is the key's number (host-key list shows it)")
            try:
                await host_keys.revoke_host_key(conn, int(words[1]))
            except host_keys.HostKeyError as exc:
                raise UsageError(str(exc)) from None
            print(f"host key {words[1]} revoked")
    return 0


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


def _when(ts: dt.datetime | None) -> str:
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if ts else "never"


async def cmd_admin_list(settings: Settings, args: argparse.Namespace) -> int:
    async with admin_connection(settings.database_url) as conn:
        tenant = await tenants.get_tenant(conn, args.slug)
        found = await accounts.list_admins(conn, tenant.id)
    if args.json:
        _print_json(found)
        return 0
    if not found:
        print(f"no administrators of {args.slug} yet: scimhub admin create {args.slug} EMAIL")
        return 0
    print(f"{'id':>6}  {'email':<40} {'status':<19} {'last sign-in':<16} sessions")
    for a in found:
        print(f"{a.id:>6}  {a.email:<40} {a.status:<19} {_when(a.last_login_at):<16} {a.sessions}")
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
        _print_json(items)
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
        _print_json(listed)
        return 0
    if not listed:
        print(f"no usable admin API keys of {slug}")
        return 0
    print(f"{'id':>6}  {'key':<6} {'label':<24} {'expires':<16} {'last used':<16} scopes")
    for k in listed:
        print(
            f"{k.id:>6}  {k.hint:<6} {k.label[:24]:<24} {_when(k.expires_at):<16} {_when(k.last_used_at):<16} "
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
        print(
            f"  id {issued.info.id}, scopes: {' '.join(issued.info.scopes)}, expires: {_when(issued.info.expires_at)}"
        )
    return 0


# ---------------------------------------------------------------------------------------------- parser

Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]  # every `cmd_*`: an exit code


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scimhub", description="scimhub operator command")
    sub = p.add_subparsers(dest="group", required=True)

    m = sub.add_parser("migrate", help="create the database if missing, migrate public, then every tenant")
    m.add_argument(
        "--with-tenant-migration",
        action="append",
        metavar="FILE.sql",
        help="also apply this SQL file to every tenant, after the shipped migrations, recorded under the file's "
        "name (rehearsing a migration over many tenants: ops/scale_tenants.py)",
    )
    m.set_defaults(func=cmd_migrate)

    t = sub.add_parser("tenant", help="manage tenants").add_subparsers(dest="command", required=True)
    c = t.add_parser("create", help="create a tenant and print its Tenant URL and Secret Token")
    c.add_argument("slug")
    c.add_argument("--name")
    c.add_argument("--notify-email", help="comma-separated failure notification recipients")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_tenant_create)
    ls = t.add_parser("list", help="list tenants by slug, a page at a time")
    ls.add_argument("--limit", type=int, default=100, help=f"tenants per page (1..{tenants.MAX_LIST_LIMIT}, 100)")
    ls.add_argument("--after", metavar="SLUG", help="start after this slug (the `next` of the previous page)")
    ls.add_argument("--json", action="store_true", help='{"tenants": [...], "next": SLUG or null}')
    ls.set_defaults(func=cmd_tenant_list)
    for name, text in (
        ("disable", "switch the SCIM connector off (requests get 401)"),
        ("enable", "switch the SCIM connector on"),
    ):
        s = t.add_parser(name, help=text)
        s.add_argument("slug")
        s.set_defaults(func=cmd_tenant_status)
    sch = t.add_parser("schema", help="a tenant's custom attributes (extension schemas)").add_subparsers(
        dest="command", required=True
    )
    sl = sch.add_parser("list", help="declared custom attributes, the mode, and those seen but not declared")
    sl.add_argument("slug")
    sl.add_argument("--json", action="store_true")
    sa = sch.add_parser("add-attribute", help="declare (or change) a custom attribute; makes its index")
    sa.add_argument("slug")
    sa.add_argument("urn", help="urn:ietf:params:scim:schemas:extension:...")
    sa.add_argument("name")
    sa.add_argument("--type", required=True, choices=TYPES)
    sa.add_argument("--resource-type", default="User", choices=("User", "Group"))
    sa.add_argument("--case-exact", action="store_true")
    sa.add_argument("--unique", action="store_true")
    sa.add_argument("--required", action="store_true")
    sa.add_argument("--multi-valued", action="store_true")
    sa.add_argument("--description")
    sr = sch.add_parser("remove-attribute", help="stop declaring an attribute (values kept unless --delete-values)")
    sr.add_argument("slug")
    sr.add_argument("urn")
    sr.add_argument("name")
    sr.add_argument("--resource-type", default="User", choices=("User", "Group"))
    sr.add_argument("--delete-values", action="store_true", help="also delete the stored values (needs --yes)")
    sr.add_argument("--yes", action="store_true")
    sm = sch.add_parser("mode", help="lenient (keep undeclared extension attributes) or strict (refuse them)")
    sm.add_argument("slug")
    sm.add_argument("mode", choices=("lenient", "strict"))
    for parser in (sl, sa, sr, sm):
        parser.set_defaults(func=cmd_schema)
    d = t.add_parser("delete", help="drop a tenant's schema, role and tokens")
    d.add_argument("slug")
    d.add_argument("--yes", action="store_true", help="really delete")
    d.add_argument("--dry-run", action="store_true", help="say what would be deleted")
    d.set_defaults(func=cmd_tenant_delete)
    st = t.add_parser("set", help="change a tenant's notification settings or rate limit")
    st.add_argument("slug")
    st.add_argument(
        "--rate-limit",
        metavar="N",
        help="SCIM requests per SCIMHUB_RATE_LIMIT_WINDOW_SECONDS (default 1 s) for this tenant, or 'default'",
    )
    st.add_argument("--notify-email", help="comma-separated recipients (empty string clears)")
    st.add_argument("--notify", choices=["on", "off"])
    st.add_argument("--digest-window", type=int, help="minutes between digests (default 60)")
    st.set_defaults(func=cmd_tenant_set)
    tok = t.add_parser("token", help="rotate or revoke a tenant's Secret Token").add_subparsers(
        dest="token_command", required=True
    )
    r = tok.add_parser("rotate", help="issue a new token")
    r.add_argument("slug")
    r.add_argument("--keep-old-for", help="overlap during which older tokens still work (e.g. 30m, 24h)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_token_rotate)
    v = tok.add_parser("revoke", help="revoke every token of the tenant")
    v.add_argument("slug")
    v.set_defaults(func=cmd_token_revoke)
    a = sub.add_parser("activity", help="a tenant's provisioning activity, newest first")
    a.add_argument("slug")
    a.add_argument("--since", help="ISO 8601 time")
    a.add_argument(
        "--outcome", help=", ".join(f"{o} ({OUTCOME_LABELS[o]})" if o in OUTCOME_LABELS else o for o in OUTCOME_FILTERS)
    )
    a.add_argument("--operation", help='an operation as the hub lists it, e.g. "Create user"')
    a.add_argument("--search", help="userName/displayName prefix, resource id or request id")
    a.add_argument("--limit", type=int, default=50)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_activity)
    adm = sub.add_parser("admin", help="tenant administrators of the admin hub").add_subparsers(
        dest="admin_command", required=True
    )
    ac = adm.add_parser("create", help="create an administrator (prints a one-time password unless given)")
    ac.add_argument("slug")
    ac.add_argument("email")
    ac.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    ac.add_argument("--json", action="store_true")
    ac.set_defaults(func=cmd_admin_create)
    al = adm.add_parser("list", help="a tenant's administrators (status, last sign-in, sessions)")
    al.add_argument("slug")
    al.add_argument("--json", action="store_true")
    al.set_defaults(func=cmd_admin_list)
    ar = adm.add_parser("remove", help="remove an administrator (ends its sessions; never the last one)")
    ar.add_argument("slug")
    ar.add_argument("email")
    ar.set_defaults(func=cmd_admin_remove)
    ak = adm.add_parser(
        "api-key",
        help="admin API keys: `api-key SLUG` creates one (shown once), `api-key list SLUG`, `api-key revoke SLUG ID`",
    )
    ak.add_argument("words", nargs="+", metavar="[create|list|revoke] SLUG [KEY_ID]")
    ak.add_argument("--label")
    ak.add_argument(
        "--scope",
        help=f"comma-separated scopes (default {','.join(scopes.DEFAULT_SCOPES)}); any of {', '.join(scopes.SCOPES)}",
    )
    ak.add_argument("--expires", help="the key stops working after this long (e.g. 30d, 90d); default never")
    ak.add_argument("--json", action="store_true")
    ak.set_defaults(func=cmd_admin_api_key)
    ev = sub.add_parser("events", help="a tenant's change events after a cursor (the feed), oldest first")
    ev.add_argument("slug")
    ev.add_argument("--after", help="the cursor: the position of the last event processed (default: the oldest kept)")
    ev.add_argument("--limit", type=int, default=100, help=f"at most this many (1-{feed.MAX_LIMIT})")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=cmd_events)
    wh = sub.add_parser(
        "webhook",
        help="webhook endpoints: add SLUG URL, list SLUG, remove SLUG ID, rotate-secret SLUG ID, enable SLUG ID, "
        "deliveries SLUG ID, redeliver SLUG ID POSITION",
    )
    wh.add_argument("words", nargs="+", metavar="VERB SLUG [ID|URL] [POSITION]")
    wh.add_argument("--events", help="comma-separated event types or user.*, group.* (default: every event)")
    wh.add_argument("--json", action="store_true")
    wh.set_defaults(func=cmd_webhook)
    hk = sub.add_parser("host-key", help="keys of the host application's read API: create [--label], list, revoke ID")
    hk.add_argument("words", nargs="+", metavar="create|list|revoke [ID]")
    hk.add_argument("--label")
    hk.add_argument("--json", action="store_true")
    hk.set_defaults(func=cmd_host_key)
    lg = adm.add_parser("log", help="the admin audit trail: who did what, when, from where (newest first)")
    lg.add_argument("slug")
    lg.add_argument("--since", help="ISO 8601 time")
    lg.add_argument("--action", help="an action name, e.g. token.rotated, signin.failed, admin.removed")
    lg.add_argument("--actor", help="a prefix of who acted (email or key label)")
    lg.add_argument("--limit", type=int, default=50)
    lg.add_argument("--json", action="store_true")
    lg.set_defaults(func=cmd_admin_log)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        command: Command = args.func
        return asyncio.run(command(settings, args))
    except KeyboardInterrupt:  # Ctrl-C: what committed stays (migrate: every tenant done so far); rerun to go on
        print(f"scimhub: interrupted; rerun `scimhub {args.group}` to continue", file=sys.stderr)
        return 130
    except feed.CursorExpired as exc:  # before CursorRejected, its base: the feed's "410 Gone"
        print(f"scimhub: {exc}", file=sys.stderr)
        return 3
    except (
        UsageError,
        rules.SettingRejected,
        FilterRejected,
        feed.CursorRejected,
    ) as exc:  # a value the rules refuse is a usage error
        print(f"scimhub: {exc}", file=sys.stderr)
        return 2
    except (SettingsError, tenants.TenantError, admins.AdminError, InvalidSlug, DatabaseNotMigrated, RoleError) as exc:
        print(f"scimhub: {exc}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError) as exc:
        print(
            f"scimhub: database error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
