"""The admin audit trail's vocabulary: every action name, in the words administrators read, and which
actions are mailed to the tenant's administrators.

One home for every writer of the trail (`admins.*`), the hub's filter list, the admin API and
`scimhub admin log`. Names are stored in `admin_trail.action` as the dotted value (`token.rotated`): changing
one is a data migration. Issue #14 (webhooks) extends the list with its own `webhook.*` names below.
"""

from __future__ import annotations

from enum import StrEnum


class AdminAction(StrEnum):
    SIGNED_IN = "signin.succeeded"
    SIGN_IN_FAILED = "signin.failed"
    SIGNED_OUT = "signin.signed_out"
    PASSWORD_CHANGED = "password.changed"  # noqa: S105 - an action name
    SESSION_ENDED = "session.ended"
    TOKEN_ROTATED = "token.rotated"  # noqa: S105 - an action name; a new Secret Token; older ones expire now or after the overlap
    TOKENS_REVOKED = "token.revoked"
    CONNECTOR_SWITCHED = "connector.switched"
    NOTIFICATIONS_CHANGED = "notifications.changed"
    ADMIN_INVITED = "admin.invited"
    ADMIN_REMOVED = "admin.removed"
    API_KEY_CREATED = "apikey.created"
    API_KEY_REVOKED = "apikey.revoked"
    OIDC_CHANGED = "oidc.changed"  # issuer, client, secret or the password sign-in switch
    SCHEMA_CHANGED = "schema.changed"  # a custom attribute declared, changed, removed, its values deleted; the mode
    RATE_LIMIT_CHANGED = "ratelimit.changed"  # by the operator (`scimhub tenant set --rate-limit`)
    # Issue #14 (webhooks) records these; the names are reserved here so the trail's filter knows them.
    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_CHANGED = "webhook.changed"
    WEBHOOK_REMOVED = "webhook.removed"
    WEBHOOK_DISABLED = "webhook.disabled"  # by the delivery, after the endpoint kept failing


LABELS: dict[AdminAction, str] = {
    AdminAction.SIGNED_IN: "Signed in",
    AdminAction.SIGN_IN_FAILED: "Sign-in failed",
    AdminAction.SIGNED_OUT: "Signed out",
    AdminAction.PASSWORD_CHANGED: "Password changed",
    AdminAction.SESSION_ENDED: "Session ended",
    AdminAction.TOKEN_ROTATED: "Token generated",
    AdminAction.TOKENS_REVOKED: "Tokens revoked",
    AdminAction.CONNECTOR_SWITCHED: "Connector switched",
    AdminAction.NOTIFICATIONS_CHANGED: "Notification settings changed",
    AdminAction.ADMIN_INVITED: "Administrator added",
    AdminAction.ADMIN_REMOVED: "Administrator removed",
    AdminAction.API_KEY_CREATED: "API key created",
    AdminAction.API_KEY_REVOKED: "API key revoked",
    AdminAction.OIDC_CHANGED: "Sign-in settings changed",
    AdminAction.SCHEMA_CHANGED: "Custom attributes changed",
    AdminAction.RATE_LIMIT_CHANGED: "Rate limit changed",
    AdminAction.WEBHOOK_CREATED: "Webhook added",
    AdminAction.WEBHOOK_CHANGED: "Webhook changed",
    AdminAction.WEBHOOK_REMOVED: "Webhook removed",
    AdminAction.WEBHOOK_DISABLED: "Webhook disabled",
}

ACTIONS: tuple[str, ...] = tuple(a.value for a in AdminAction)  # the filter list, in this order


class TrailOutcome(StrEnum):
    SUCCESS = "success"
    REFUSED = "refused"  # an attempt that changed nothing (wrong password, unknown key, forged state, ...)


def is_security_relevant(action: AdminAction, outcome: TrailOutcome, *, switched_off: bool = False) -> bool:
    """Whether a trail entry is mailed to every administrator of the tenant: the token rotated or revoked,
    the connector switched off, a new administrator or API key, the sign-in settings changed, a webhook added
    or changed (issue #14)."""
    if outcome != TrailOutcome.SUCCESS:
        return False
    if action == AdminAction.CONNECTOR_SWITCHED:
        return switched_off
    return action in {
        AdminAction.TOKEN_ROTATED,
        AdminAction.TOKENS_REVOKED,
        AdminAction.ADMIN_INVITED,
        AdminAction.API_KEY_CREATED,
        AdminAction.OIDC_CHANGED,
        AdminAction.WEBHOOK_CREATED,
        AdminAction.WEBHOOK_CHANGED,
        AdminAction.WEBHOOK_DISABLED,
    }
