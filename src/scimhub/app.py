"""The application factory: a short list of routers, the error mapping, start-up and shut-down."""

from __future__ import annotations

from litestar import Litestar

from scimhub.http.admin_api import admin_api_router
from scimhub.http.errors import EXCEPTION_HANDLERS
from scimhub.http.health import health, metrics_endpoint, ready
from scimhub.http.host_api import host_api_router
from scimhub.http.hub import hub_router
from scimhub.http.openapi import openapi_config
from scimhub.http.scim import scim_router
from scimhub.http.services import Services
from scimhub.settings import Settings


def create_app(settings: Settings, *, services: Services | None = None) -> Litestar:
    """The app; with `services` given (tests), it uses them and leaves starting and stopping to the caller."""

    async def on_startup(app: Litestar) -> None:
        if services is None:
            app.state.services = await Services.start(settings)

    async def on_shutdown(app: Litestar) -> None:
        if services is None:
            await app.state.services.stop()

    app = Litestar(
        route_handlers=[
            health,
            ready,
            metrics_endpoint,
            scim_router(),
            hub_router(),
            admin_api_router(),
            host_api_router(),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        request_max_body_size=settings.max_body_bytes,
        debug=False,
        logging_config=None,  # logging is ours (observability.py): one format, nothing personal
        openapi_config=openapi_config(settings),  # the admin API's and the SCIM API's (http/openapi.py)
    )
    if services is not None:
        app.state.services = services
    return app
