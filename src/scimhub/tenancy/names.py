"""Names of tenant schemas and roles, always derived, never taken from user input.

PostgreSQL roles are cluster-wide while schemas are per database, so role names carry the installation id
(random, made by the first migration): two installations on one server (a test and a dev database) never
share a role.
"""

from __future__ import annotations

import re

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_INSTALL_RE = re.compile(r"^[0-9a-f]{8,16}$")


class InvalidSlug(ValueError):
    """A tenant slug that is not 1-63 lowercase letters, digits and inner hyphens."""


def check_slug(slug: str) -> str:
    if not SLUG_RE.match(slug):
        raise InvalidSlug(
            f"invalid tenant slug {slug[:80]!r}: use 1-63 lowercase letters, digits and hyphens "
            "(not at the start or end)"
        )
    return slug


def schema_name(tenant_id: int) -> str:
    return f"t_{int(tenant_id)}"


def tenant_role_name(install_id: str, tenant_id: int) -> str:
    return f"sh{_check_install(install_id)}_t{int(tenant_id)}"


def app_role_name(install_id: str) -> str:
    return f"sh{_check_install(install_id)}_app"


def _check_install(install_id: str) -> str:
    if not _INSTALL_RE.match(install_id):
        raise ValueError("malformed installation id")
    return install_id


def scope_sql(schema: str, role: str, *, statement_timeout: float | None = None) -> str:
    """BEGIN plus the transaction-local scope (and statement timeout, in seconds), as one simple-protocol
    round trip.

    The names are derived by this module (digits and hex only) and the timeout is a number, so they are safe
    to inline; inlining lets BEGIN and the set_config calls travel in one message instead of several.
    """
    check_scope_names(schema, role)
    sql = "BEGIN; SELECT set_config('search_path', '" + schema + "', true), set_config('role', '" + role + "', true)"
    if statement_timeout is not None:
        sql += f", set_config('statement_timeout', '{timeout_ms(statement_timeout)}', true)"
    return sql


def timeout_ms(seconds: float) -> str:
    """A statement timeout in seconds as `statement_timeout`'s text: whole milliseconds, at least 1 (0 would
    mean none)."""
    return str(max(1, round(seconds * 1000)))


def check_scope_names(schema: str, role: str) -> None:
    """ValueError unless `schema` and `role` are a tenant schema and role of this module's making (digits and
    hex only, safe to inline into a statement)."""
    if not (re.fullmatch(r"t_\d+", schema) and re.fullmatch(r"sh[0-9a-f]+_t\d+", role)):
        raise ValueError("not a tenant schema and role of this module's making")
