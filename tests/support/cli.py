"""Running the installed `scimhub` command against the test database, as an operator would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.settings import PUBLIC_URL

SCIMHUB = str(Path(sys.executable).parent / "scimhub")


def run(
    database: str, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "SCIMHUB_DATABASE_URL": database, "SCIMHUB_PUBLIC_URL": PUBLIC_URL, **(env or {})}
    return subprocess.run([SCIMHUB, *args], capture_output=True, text=True, env=full_env, timeout=60, input=stdin or "")


def all_tenants(database: str, *, limit: int = 1000) -> list[dict[str, Any]]:
    """Every tenant `scimhub tenant list --json` shows, following its `next` cursor page by page."""
    found: list[dict[str, Any]] = []
    after: list[str] = []
    while True:
        r = run(database, "tenant", "list", "--json", "--limit", str(limit), *after)
        assert r.returncode == 0, r.stderr
        page = json.loads(r.stdout)
        found.extend(page["tenants"])
        if page["next"] is None:
            return found
        after = ["--after", page["next"]]
