"""SCIM on the wire: decode a request body once, encode answers as `application/scim+json`.

This is where client text enters the SCIM API, and where it is checked once (`scim.characters`): a body's
every key and string (`decode_body`), and the path segments, query parameters and the header we keep of every
SCIM request (`check_request_text`, which the SCIM dispatcher calls before any handler). A character
PostgreSQL cannot store (NUL, a lone surrogate) or an over-long path segment is `invalidValue` here, before any
use case, store or activity event sees it. The admin surfaces (hub pages, admin API) check the same, and their
form fields and JSON bodies, in `check_admin_request_text`, their routers' `before_request`.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response
from litestar.types import Receive, Scope, Send

from scimhub.scim.characters import (
    MAX_SEGMENT_LENGTH,
    check_document,
    check_text,
    has_lone_surrogate_escape,
)
from scimhub.scim.errors import InvalidSyntax, InvalidValue, PayloadTooLarge, ScimError

SCIM_JSON = "application/scim+json"
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
_NUL_ESCAPE = b"\\u0000"  # the only way JSON text can carry a NUL (a raw NUL byte is malformed JSON)
# The headers scimhub keeps about a request (the activity log's user agent); the others are only compared.
_KEPT_HEADERS = ("user-agent",)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def decode_body(raw: bytes, *, limit: int) -> Any:
    """The JSON body, or a SCIM error: 413 over `limit` bytes, `invalidSyntax` for empty or malformed JSON,
    `invalidValue` for a string PostgreSQL cannot store (a `\\u0000` or a lone surrogate escape)."""
    if len(raw) > limit:
        raise PayloadTooLarge(f"the request body is {len(raw)} bytes; the limit is {limit}")
    if not raw.strip():
        raise InvalidSyntax("the request body is empty; send a JSON object")
    try:
        body = _decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError, ValueError):
        if has_lone_surrogate_escape(raw):
            raise InvalidValue(
                "the request body holds a \\uD800-\\uDFFF escape that is not half of a surrogate pair; "
                "such a character cannot be stored"
            ) from None
        raise InvalidSyntax("the request body is not valid JSON") from None
    if _NUL_ESCAPE in raw:
        check_document(body)
    return body


def check_request_text(request: Any) -> None:
    """The path segments, every query parameter (names and values) and the kept headers hold only storable
    characters, and no path segment is longer than `MAX_SEGMENT_LENGTH`; `invalidValue` otherwise. `request`
    is a Litestar `Request` (the admin surfaces) or an `http.dispatch.ScimRequest` (the SCIM API's dispatcher
    calls this before every handler): both have `path_params`, `query_params.multi_items()` and
    `headers.get`."""
    for name, value in request.path_params.items():
        if not isinstance(value, str):
            continue
        check_text(value, f"the URL's {name} segment")
        if len(value) > MAX_SEGMENT_LENGTH:
            raise InvalidValue(f"a path segment is {len(value)} characters long; the limit is {MAX_SEGMENT_LENGTH}")
    for name, value in request.query_params.multi_items():
        check_text(name, "a query parameter name")
        check_text(value, f"the query parameter {name[:40]!r}")
    for header in _KEPT_HEADERS:
        value = request.headers.get(header)
        if value is not None:
            check_text(value, f"the {header} header")


async def check_admin_request_text(request: Request[Any, Any, Any]) -> None:
    """Litestar `before_request` of the hub and the admin API: what `check_request_text` checks, and every
    field of a submitted form and every key and string of a JSON body (`invalidValue`; each surface answers
    it as its own 400). Malformed JSON is left to the handler's decoder (400 as well)."""
    check_request_text(request)
    if request.method not in _BODY_METHODS:
        return
    content_type = request.content_type[0]
    if content_type in _FORM_TYPES:
        for name, value in (await request.form()).multi_items():
            check_text(name, "a form field name")
            if isinstance(value, str):
                check_text(value, f"the form field {name[:40]!r}")
    elif content_type.endswith("json"):
        raw = await request.body()
        if _NUL_ESCAPE in raw:
            try:
                body = _decoder.decode(raw)
            except (msgspec.DecodeError, RecursionError, ValueError):
                return
            check_document(body)


_SCIM_TYPE = (b"content-type", SCIM_JSON.encode())
_NO_BODY = frozenset({204, 304})


class ScimAnswer:
    """A SCIM handler's answer as a plain ASGI app (Litestar sends what a handler returns when its return
    type is an ASGI callable): the body encoded once, the headers as bytes, none of `Response`'s per-request
    header and cookie merging (~8% of the web process's CPU for a one-statement read). `Content-Type` and
    `Content-Length` as Litestar sets them; a 204 or 304 has neither and no body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
        if status in _NO_BODY:
            self.body = b""
        else:
            self.body = _encoder.encode(body) if body is not None else b""
            self.headers.append(_SCIM_TYPE)
            self.headers.append((b"content-length", str(len(self.body)).encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


def scim_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    content = _encoder.encode(body) if body is not None else b""
    return Response(content=content, status_code=status, media_type=SCIM_JSON, headers=headers)


def error_response(exc: ScimError, headers: dict[str, str] | None = None) -> Response[bytes]:
    return scim_response(exc.to_body(), exc.status, headers)
