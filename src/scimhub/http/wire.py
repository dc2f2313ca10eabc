"""SCIM on the wire: decode a request body once, encode answers as `application/scim+json`."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response

from scimhub.scim.errors import InvalidSyntax, PayloadTooLarge, ScimError

SCIM_JSON = "application/scim+json"
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def decode_body(raw: bytes, *, limit: int) -> Any:
    if len(raw) > limit:
        raise PayloadTooLarge(f"the request body is {len(raw)} bytes; the limit is {limit}")
    if not raw.strip():
        raise InvalidSyntax("the request body is empty; send a JSON object")
    try:
        return _decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError, ValueError):
        raise InvalidSyntax("the request body is not valid JSON") from None


def scim_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    content = _encoder.encode(body) if body is not None else b""
    return Response(content=content, status_code=status, media_type=SCIM_JSON, headers=headers)


def error_response(exc: ScimError, headers: dict[str, str] | None = None) -> Response[bytes]:
    return scim_response(exc.to_body(), exc.status, headers)
