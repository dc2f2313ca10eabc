"""The SCIM API's dispatcher: one plain ASGI app mounted at `/scim/v2` (issue #13).

Litestar routes `/scim/v2...` to this mount and nothing else of it runs per SCIM request: no route trie walk
per handler, no `Request`, no `before_request` hook, no kwargs model. The path is split once into tenant,
resource and id (the shapes the former Router had: `/{tenant}`, `/{tenant}/{resource}`,
`/{tenant}/{resource}/{rid}`), the handler is picked by method from a table, and it gets a `ScimRequest`
(headers, query parameters and body read as Litestar read them). What the Router did around a handler is
kept, in the same order: a path of no shape is a 404 and a method a shape has no handler for a 405, both
raised to the app's exception handling before anything else (no activity event, no metrics, as before);
then `http.activity.scim_middleware` (activity event, authentication, rate limit, metrics, access log) around
Litestar's own `ExceptionHandlerMiddleware` (every error rendered by `http.errors.EXCEPTION_HANDLERS`, and
Sentry's `after_exception` hook called, through the middleware's `send`), around `wire.check_request_text`
and the handler. Litestar stays for everything else (hub, admin API, host API, health, OpenAPI).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast, overload

from litestar import asgi
from litestar.datastructures import MultiDict
from litestar.exceptions import (
    ClientException,
    InternalServerException,
    MethodNotAllowedException,
    NotFoundException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.middleware._internal.exceptions import ExceptionHandlerMiddleware
from litestar.types import HTTPScope, Receive, Scope, Send

from scimhub.http.activity import scim_middleware
from scimhub.http.wire import ScimAnswer, check_request_text
from scimhub.observability import name_transaction

if TYPE_CHECKING:
    from litestar.handlers import ASGIRouteHandler

    from scimhub.http.services import Services

MOUNT = "/scim/v2"
# The templates the Router's routes had (`scope["path_template"]`, named by the 500 log line).
_TEMPLATES = ("", "/scim/v2/{tenant}", "/scim/v2/{tenant}/{resource}", "/scim/v2/{tenant}/{resource}/{rid}")
_NAMES = ("tenant", "resource", "rid")
_ALLOW = {"Allow": "GET, OPTIONS"}  # what Litestar's generated OPTIONS handler of each former route answered


class _Headers:
    """The request headers by lower-case name, the first of a repeated one (as Litestar's `Headers.get`)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        found: dict[str, bytes] = {}
        for name, value in raw:
            found.setdefault(name.decode("latin-1").lower(), value)
        self._raw = found

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        value = self._raw.get(name)
        return default if value is None else value.decode("latin-1")


class ScimRequest:
    """What a SCIM handler reads of its request. Query parameters as Litestar parses them (a `MultiDict`, the
    first value of a repeated name), headers as `_Headers`, the body with the app's size limit."""

    __slots__ = ("_headers", "_query", "path_params", "receive", "scope", "services")

    def __init__(self, scope: HTTPScope, receive: Receive, services: Services) -> None:
        self.scope = scope
        self.receive = receive
        self.services = services
        self.path_params: dict[str, str] = scope["path_params"]
        self._query: MultiDict[Any] | None = None
        self._headers: _Headers | None = None

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.scope["state"]
        return state

    @property
    def query_params(self) -> MultiDict[Any]:
        if self._query is None:
            from litestar._parsers import parse_query_string

            self._query = MultiDict(parse_query_string(self.scope.get("query_string", b"")))
        return self._query

    @property
    def headers(self) -> _Headers:
        if self._headers is None:
            self._headers = _Headers(self.scope["headers"])
        return self._headers

    async def body(self) -> bytes:
        """The whole body, refused as Litestar's `Request.body` refused it: a `Content-Length` that is no
        number 400, one over the limit or more bytes than the limit 413, a disconnect 500."""
        announced = self.headers.get("content-length")
        try:
            length = int(announced) if announced is not None else None
        except ValueError:
            raise ClientException(f"Invalid content-length: {announced!r}") from None
        # The app's limit (`request_max_body_size`), as the Router's handlers resolved it (no layer set another).
        limit = cast("int | None", self.scope["litestar_app"].request_max_body_size) or float("inf")
        if length is not None and length > limit:
            raise RequestEntityTooLarge
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                if chunk:
                    total += len(chunk)
                    if total > limit:
                        raise RequestEntityTooLarge
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            elif message["type"] == "http.disconnect":
                raise InternalServerException("client disconnected prematurely")
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


Handler = Callable[[ScimRequest], Awaitable[ScimAnswer]]


async def options(request: ScimRequest) -> ScimAnswer:
    """OPTIONS on any SCIM path: 204 and `Allow`, as Litestar's generated handler answered (no outcome)."""
    return ScimAnswer(None, 204, _ALLOW)


def scim_mount(handlers: Mapping[tuple[int, str], Handler]) -> ASGIRouteHandler:
    """The Litestar handler mounted at `/scim/v2`; `handlers` maps (number of path segments, method) to a
    handler (`http.scim.HANDLERS`)."""
    allowed: dict[int, str] = {}
    for shape, method in sorted(handlers):
        allowed[shape] = f"{allowed[shape]}, {method}" if shape in allowed else method
    cached: list[Any] = [None, None]  # the app seen last and its services (read once, not per request)

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        litestar_app = scope["litestar_app"]
        if cached[0] is not litestar_app:
            cached[0], cached[1] = litestar_app, litestar_app.state.services
        request = ScimRequest(cast("HTTPScope", scope), receive, cached[1])
        handler = handlers[len(request.path_params), request.method]
        try:
            # Client text is checked once, after authentication and before any handler (http/wire.py).
            check_request_text(request)
            answer = await handler(request)
        except Exception:
            name_transaction(f"{handler.__module__}.{handler.__qualname__}")  # before Sentry's hook sees it
            raise
        await answer(scope, receive, send)

    inner = scim_middleware(ExceptionHandlerMiddleware(app=handle, debug=None))

    @asgi(MOUNT, is_mount=True, copy_scope=False)
    async def scim_api(scope: Scope, receive: Receive, send: Send) -> None:
        # Litestar hands a mount the rest of its normalised path (with a "/" added at the end); the full path
        # is what the Router's routes saw (the activity log, the error handlers' `/scim/` test).
        path = (MOUNT + scope["path"]).rstrip("/")
        scope["path"] = path
        parts = path.split("/")[3:]
        if not path.startswith(MOUNT + "/") or not parts or len(parts) > 3:
            raise NotFoundException()
        shape = len(parts)
        if (shape, cast("HTTPScope", scope)["method"]) not in handlers:
            raise MethodNotAllowedException(headers={"allow": allowed[shape]})
        scope["path_params"] = dict(zip(_NAMES, parts, strict=False))
        scope["path_template"] = _TEMPLATES[shape]
        await inner(scope, receive, send)

    return scim_api
