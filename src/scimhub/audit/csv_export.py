"""The activity log as CSV (the hub's export): which columns, and cells that are safe in a spreadsheet.

Entries hold text a client chose (a userName, a path, an error detail quoting a value). A spreadsheet reads a
cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return as a formula (CSV injection, OWASP
"CSV Injection"); such a cell is written with a leading `'`, which spreadsheets show as text and do not
evaluate. Numbers and timestamps are written as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from scimhub.audit.queries import ActivityEntry

CSV_COLUMNS = (
    "received_at",
    "status",
    "outcome",
    "operation",
    "resource_type",
    "resource_id",
    "target",
    "error_type",
    "error_detail",
    "changed",
    "rewrites",
    "duration_ms",
    "repeat",
    "request_id",
    "client_ip",
    "method",
    "path",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """`text` as a cell no spreadsheet evaluates: prefixed with `'` when it (or its first character after
    spaces) starts a formula, per OWASP's CSV injection guidance."""
    if text.startswith(_FORMULA_START) or text.lstrip(" ").startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_row(entry: ActivityEntry) -> list[object]:
    row: list[object] = []
    for column in CSV_COLUMNS:
        value: object = getattr(entry, column)
        if column == "received_at":
            value = entry.received_at.isoformat()
        elif column in ("changed", "rewrites"):
            value = ";".join(getattr(entry, column))
        row.append(spreadsheet_safe(value) if isinstance(value, str) else value)
    return row


def csv_text(entries: Iterable[ActivityEntry], *, header: bool = False) -> str:
    """CSV lines for `entries` (with the header line first when asked)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    if header:
        writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_row(e) for e in entries)
    return buf.getvalue()
