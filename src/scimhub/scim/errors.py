"""SCIM errors (RFC 7644 §3.12): one exception type, mapped to the Error message by the HTTP layer.

`detail` is shown verbatim to administrators in Entra's provisioning logs, so it says what to fix.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
# A detail quotes what the client sent (a path, a token of a filter); cut so that an error about a 1 MB value
# is not a 1 MB answer and a 1 MB activity entry.
MAX_DETAIL = 1000


class ScimError(Exception):
    status: int = 400
    scim_type: str | None = None

    def __init__(self, detail: str, *, status: int | None = None, scim_type: str | None = None) -> None:
        if len(detail) > MAX_DETAIL:
            detail = detail[:MAX_DETAIL] + "…"
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if scim_type is not None:
            self.scim_type = scim_type

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(self.status)}
        if self.scim_type:
            body["scimType"] = self.scim_type
        body["detail"] = self.detail
        return body


class InvalidFilter(ScimError):
    scim_type = "invalidFilter"


class InvalidSyntax(ScimError):
    scim_type = "invalidSyntax"


class InvalidValue(ScimError):
    scim_type = "invalidValue"


class InvalidPath(ScimError):
    scim_type = "invalidPath"


class NoTarget(ScimError):
    scim_type = "noTarget"


class Mutability(ScimError):
    scim_type = "mutability"


class Uniqueness(ScimError):
    status = 409
    scim_type = "uniqueness"


class NotFound(ScimError):
    status = 404


class PreconditionFailed(ScimError):
    status = 412


class Unauthorized(ScimError):
    status = 401


class PayloadTooLarge(ScimError):
    status = 413


class TryLater(ScimError):
    """429 Too Many Requests (RFC 6585 §4) or 503 Service Unavailable, with the whole seconds a client should
    wait before it retries (the Retry-After header, RFC 9110 §10.2.3; Entra honours it)."""

    def __init__(self, detail: str, *, status: int, retry_after: int) -> None:
        super().__init__(detail, status=status)
        self.retry_after = max(1, retry_after)
