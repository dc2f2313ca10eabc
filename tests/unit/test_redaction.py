"""No password in any form a client can send survives redaction; the CSV export is safe in a spreadsheet."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from typing import Any

import pytest

from scimhub.audit.csv_export import CSV_COLUMNS, csv_text, spreadsheet_safe
from scimhub.audit.events import redact_body, redact_path
from scimhub.audit.queries import ActivityEntry

SECRET = "Sup3r-s3cret!"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


@pytest.mark.parametrize(
    "body",
    [
        {"userName": "u", "password": SECRET},
        {"userName": "u", "PassWord": SECRET},
        {"userName": "u", f"{CORE}:password": SECRET},
        {"userName": "u", CORE: {"password": SECRET}},
        ops({"op": "replace", "path": "password", "value": SECRET}),
        ops({"op": "Replace", "path": " PASSWORD ", "value": SECRET}),
        ops({"op": "replace", "path": f"{CORE}:password", "value": SECRET}),
        ops({"OP": "add", "PATH": f"{CORE.upper()}:Password", "VALUE": SECRET}),
        ops({"op": "replace", "path": "password", "value": [SECRET]}),
        ops({"op": "replace", "value": {"password": SECRET}}),
        ops({"op": "replace", "value": {f"{CORE}:password": SECRET}}),
        ops({"op": "replace", "path": f'password[value eq "{SECRET}"', "value": SECRET}),  # unreadable
        {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": f'password eq "{SECRET}"'},
        {"filter": f'userName eq "u" or {CORE}:password eq "{SECRET}"'},
        {"filter": f"password eq {SECRET}"},  # unreadable filter naming password
        {"Operations": [[[[{"password": SECRET}]]]]},
    ],
)
def test_no_password_survives_redaction(body: dict[str, Any]) -> None:
    kept = redact_body(json.dumps(body).encode())
    assert kept is not None and SECRET not in kept
    assert "[removed]" in kept


def test_redaction_keeps_what_is_not_a_password() -> None:
    body = ops(
        {"op": "replace", "path": "passwordHint", "value": "keep-1"},
        {"op": "replace", "path": 'emails[value eq "password@x.test"].type', "value": "keep-2"},
        {"op": "replace", "path": "displayName", "value": "keep-3"},
    )
    kept = redact_body(json.dumps({**body, "filter": 'emails.value eq "password@x.test"'}).encode())
    assert kept is not None and all(f"keep-{i}" in kept for i in (1, 2, 3)) and "password@x.test" in kept


def test_redaction_of_a_deep_body_is_bounded() -> None:
    deep = b'{"a": ' + b"[" * 500 + b"]" * 500 + b"}"
    kept = redact_body(deep)
    assert kept is not None and "nested too deeply" in kept


@pytest.mark.parametrize(
    "query",
    [
        f'filter=password eq "{SECRET}"',
        f"filter=password%20eq%20%22{SECRET}%22&count=1",
        f"filter=p%61ssword+eq+%22{SECRET}%22",
        f"FILTER=urn:ietf:params:scim:schemas:core:2.0:User:password eq {SECRET}",
    ],
)
def test_a_password_filter_in_the_query_string_is_removed(query: str) -> None:
    kept = redact_path(f"/scim/v2/acme/Users?{query}")
    assert SECRET not in kept and kept.startswith("/scim/v2/acme/Users?")


def test_other_query_strings_are_kept_as_sent() -> None:
    for path in ("/scim/v2/acme/Users", '/scim/v2/acme/Users?filter=userName%20eq%20"a"&count=2'):
        assert redact_path(path) == path


# ----------------------------------------------------------------------------------------------- CSV export


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("  =1", "'  =1"),
        ("alice@contoso.test", "alice@contoso.test"),
        ("Disable user", "Disable user"),
        ("", ""),
    ],
)
def test_spreadsheet_safe_cells(text: str, safe: str) -> None:
    assert spreadsheet_safe(text) == safe


def _entry(**fields: Any) -> ActivityEntry:
    base: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "received_at": dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC),
        "duration_ms": 1.5,
        "request_id": "r1",
        "method": "POST",
        "path": "/scim/v2/acme/Users",
        "operation": "Create user",
        "resource_type": "User",
        "resource_id": None,
        "target": "=cmd|' /C calc'!A0",
        "status": 409,
        "outcome": "conflict",
        "error_type": "uniqueness",
        "error_detail": "+SUM(1)",
        "changed": ["-x"],
        "rewrites": ["@y"],
        "repeat": 1,
        "client_ip": "127.0.0.1",
        "user_agent": "Azure",
    }
    base.update(fields)
    return ActivityEntry(**base)


def test_csv_export_parses_back_with_every_formula_cell_neutralised() -> None:
    text = csv_text([_entry(), _entry(target="bob@contoso.test", error_detail=None)], header=True)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(CSV_COLUMNS)
    first = dict(zip(CSV_COLUMNS, rows[1], strict=True))
    assert first["target"] == "'=cmd|' /C calc'!A0" and first["error_detail"] == "'+SUM(1)"
    assert first["changed"] == "'-x" and first["rewrites"] == "'@y"
    assert first["status"] == "409" and first["duration_ms"] == "1.5"
    second = dict(zip(CSV_COLUMNS, rows[2], strict=True))
    assert second["target"] == "bob@contoso.test" and second["error_detail"] == ""
    for row in rows[1:]:
        assert not any(cell[:1] in {"=", "+", "-", "@", "\t", "\r"} for cell in row)
