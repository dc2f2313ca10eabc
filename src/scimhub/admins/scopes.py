"""Admin API key scopes: the small, fixed set a key may be given, and what each allows.

A session (an administrator signed in to the hub) may do everything in its tenant; a key only what its
scopes name. Each admin API route declares the one scope it needs (`http/admin_api.py`, route `opt`), and one
guard checks it: a key without that scope gets 403 naming the missing scope.
"""

from __future__ import annotations

from collections.abc import Iterable

from scimhub.admins.model import AdminError

SCOPES: dict[str, str] = {
    "activity:read": "read the provisioning activity log",
    "connector:read": "read the SCIM connector's state, Tenant URL and token hints",
    "connector:write": "switch the SCIM connector on or off",
    "tokens:write": "generate, rotate and revoke the SCIM Secret Token",
    "notifications:read": "read the failure notification settings",
    "notifications:write": "change the failure notification settings and send a test mail",
    "admins:read": "list administrators, API keys and sessions",
    "admins:write": "invite and remove administrators, create and revoke API keys, end sessions",
    "audit:read": "read the admin audit trail",
    "schema:read": "read the custom attributes (declared, and seen but not declared) and the mode",
    "schema:write": "declare, change and remove custom attributes, delete their values, set the mode",
    # Reserved for issue #14 (events and webhooks): accepted on keys now, so keys made today can be given them.
    "events:read": "read provisioning events (issue #14)",
    "webhooks:write": "create, change and remove webhooks (issue #14)",
}

# Keys created before scopes existed (and `scimhub admin api-key` without --scope) get the scopes of every
# route that existed then: they keep working as before. The newer capabilities need a key made for them.
DEFAULT_SCOPES: tuple[str, ...] = (
    "activity:read",
    "connector:read",
    "connector:write",
    "tokens:write",
    "notifications:read",
    "notifications:write",
)


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes, trimmed, deduplicated and in SCOPES order; AdminError naming every unknown one, or none given."""
    given = {s.strip() for s in scopes if s.strip()}
    unknown = sorted(given - SCOPES.keys())
    if unknown:
        names = ", ".join(repr(s[:40]) for s in unknown[:5])
        raise AdminError(f"unknown scope {names}: use any of {', '.join(SCOPES)}")
    if not given:
        raise AdminError(f"a key needs at least one scope: any of {', '.join(SCOPES)}")
    return [s for s in SCOPES if s in given]


def parse_scopes(text: str) -> list[str]:
    """Scopes typed by a person: separated by commas or spaces (`--scope activity:read,audit:read`)."""
    return check_scopes(text.replace(",", " ").split())
