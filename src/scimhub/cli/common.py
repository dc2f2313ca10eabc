"""What every `scimhub` command shares: the usage error, JSON and token printing, the command type."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import msgspec

from scimhub.settings import Settings
from scimhub.tenancy import tenants

if TYPE_CHECKING:
    from scimhub.audit import queries


MAX_ACTIVITY_LIMIT = 10_000


class UsageError(Exception):
    pass


def activity_json(e: queries.ActivityEntry) -> dict[str, Any]:
    """An entry as `activity --json` prints it: times in ISO 8601, ids as strings, no bodies."""
    out: dict[str, Any] = {}
    for k, v in msgspec.structs.asdict(e).items():
        if k in ("request_body", "response_body"):
            continue
        out[k] = v.isoformat() if isinstance(v, dt.datetime) else str(v) if k == "event_id" else v
    return out


def print_json(value: Any) -> None:
    print(json.dumps(msgspec.to_builtins(value), indent=None))


def print_issued(issued: tenants.IssuedToken, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(issued)
        return
    print(f"{verb} tenant {issued.slug}")
    print(f"  Tenant URL:   {issued.scim_url}")
    print(f"  Secret Token: {issued.token}")
    print("  (the token is shown only now; paste both into Entra ID > Provisioning > Admin Credentials)")


def when(ts: dt.datetime | None) -> str:
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if ts else "never"


Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]  # every `cmd_*`: an exit code
