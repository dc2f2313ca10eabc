"""The admin hub: server-rendered pages (Litestar + Jinja2) for a tenant's administrators.

Every page is bound to the signed-in administrator's tenant: a session of tenant A asking for tenant B's
pages gets 404. Every form carries the session's CSRF token; a forged or missing token gets 403 and changes
nothing. Bad filter values get a 400 page that says what to fix. Who may see what is decided once, in
`session` (middleware, guards, dependencies); each page module only turns a request into calls of
`tenancy`, `admins`, `audit` and `notify`, and their typed answers into a page.
"""

from __future__ import annotations

from litestar import Router

from scimhub.audit.activity_filter import FilterRejected
from scimhub.http.activity_params import provide_activity_query
from scimhub.http.admin_access import nudge_notices, provide_services
from scimhub.http.hub import (
    account,
    activity_log,
    administrators,
    audit_trail,
    connector,
    notifications,
    overview,
    schema_page,
    sign_in,
    signin_settings,
    webhooks,
)
from scimhub.http.hub.rendering import HubError, bad_filter_page, bad_input_page, hub_error_page
from scimhub.http.hub.session import (
    GUARDS,
    HubSession,
    PasswordChangeRequired,
    SignInRequired,
    password_redirect,
    provide_form,
    provide_page,
    sign_in_redirect,
)
from scimhub.http.wire import check_admin_request_text
from scimhub.scim.errors import InvalidValue


def hub_router() -> Router:
    public = Router(
        path="/",
        route_handlers=[sign_in.login_page, sign_in.login_submit, sign_in.oidc_start, sign_in.oidc_callback],
    )
    signed_in = Router(
        path="/",
        route_handlers=[
            sign_in.logout,
            sign_in.password_page,
            sign_in.password_submit,
            overview.overview,
            connector.connector_page,
            connector.connector_toggle,
            connector.connector_rotate,
            connector.connector_revoke,
            notifications.notifications_page,
            notifications.notifications_save,
            notifications.notifications_test,
            activity_log.activity_page,
            activity_log.activity_entry,
            activity_log.activity_csv,
            schema_page.schema_page,
            schema_page.schema_declare,
            schema_page.schema_remove,
            schema_page.schema_mode,
            administrators.admins_page,
            administrators.admins_invite,
            administrators.admins_api_key,
            administrators.admins_remove,
            administrators.admins_api_key_revoke,
            account.account_page,
            account.account_password,
            account.account_end_session,
            account.account_end_others,
            audit_trail.audit_page,
            audit_trail.audit_csv,
            signin_settings.signin_settings_page,
            signin_settings.signin_settings_save,
            signin_settings.signin_settings_password,
            signin_settings.signin_settings_remove,
            *webhooks.ROUTES,
        ],
        middleware=[HubSession],
        after_response=nudge_notices,
        guards=GUARDS,
        dependencies={"page": provide_page, "activity": provide_activity_query},
    )
    return Router(
        path="/hub",
        route_handlers=[public, signed_in],
        dependencies={"services": provide_services, "form": provide_form},
        # Client text is checked once, before any handler (http/wire.py): what PostgreSQL cannot store is 400.
        before_request=check_admin_request_text,
        exception_handlers={
            HubError: hub_error_page,
            InvalidValue: bad_input_page,
            FilterRejected: bad_filter_page,
            SignInRequired: sign_in_redirect,
            PasswordChangeRequired: password_redirect,
        },
    )


__all__ = ["hub_router"]
