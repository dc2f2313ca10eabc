"""`scimhub webhook ...` and `scimhub host-key ...`: the host application's webhook endpoints and keys (issue #14)."""

from __future__ import annotations

import argparse
import json
from typing import Any

import msgspec

from scimhub.admins import OPERATOR, trail
from scimhub.admins.vocabulary import AdminAction
from scimhub.cli.common import UsageError, when
from scimhub.events import due, host_keys, webhooks
from scimhub.events.targets import UnsafeTarget
from scimhub.events.vocabulary import PatternRejected
from scimhub.settings import Settings
from scimhub.tenancy import tenants
from scimhub.tenancy.db import admin_connection
from scimhub.tenancy.transaction import scoped


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
            if verb in ("enable", "redeliver"):
                # The CLI queues no task: the beat's webhook sweep sends it within seconds (`events.due`).
                await due.mark_due_on(conn, [tenant.id])
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
            state = "enabled" if e.enabled else f"disabled {when(e.disabled_at)}"
            print(f"{e.id}  {state:<10} {e.url}  events: {','.join(e.events) or '*'}  cursor {e.cursor}")
    elif verb == "deliveries":
        if args.json:
            print(json.dumps([msgspec.to_builtins(d) for d in shown]))
        for d in shown if not args.json else []:
            print(
                f"{when(d.attempted_at)}  {d.position:>8}  attempt {d.attempt}  {d.status:<11} "
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
                    f"created {when(k.created_at)}  used {when(k.last_used_at)}"
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
