"""The `scimhub` argument parser and entry point: which command runs, and how its errors become exit codes."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import asyncpg

from scimhub import admins
from scimhub.admins import scopes
from scimhub.audit.activity_filter import FilterRejected
from scimhub.audit.vocabulary import OUTCOME_FILTERS, OUTCOME_LABELS
from scimhub.cli.activity_commands import cmd_activity, cmd_events
from scimhub.cli.admin_commands import (
    cmd_admin_api_key,
    cmd_admin_create,
    cmd_admin_list,
    cmd_admin_log,
    cmd_admin_remove,
)
from scimhub.cli.common import Command, UsageError
from scimhub.cli.schema_commands import cmd_schema
from scimhub.cli.tenant_commands import (
    cmd_migrate,
    cmd_tenant_create,
    cmd_tenant_delete,
    cmd_tenant_list,
    cmd_tenant_set,
    cmd_tenant_status,
    cmd_token_revoke,
    cmd_token_rotate,
)
from scimhub.cli.webhook_commands import cmd_host_key, cmd_webhook
from scimhub.events import feed
from scimhub.scim.extensions import TYPES
from scimhub.settings import SettingsError, load_settings
from scimhub.tenancy import rules, tenants
from scimhub.tenancy.db import DatabaseNotMigrated
from scimhub.tenancy.names import InvalidSlug
from scimhub.tenancy.roles import RoleError


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
