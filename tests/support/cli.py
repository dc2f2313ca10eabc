"""Running the installed `scimhub` command against the test database, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.settings import PUBLIC_URL

SCIMHUB = str(Path(sys.executable).parent / "scimhub")


def run(
    database: str, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "SCIMHUB_DATABASE_URL": database, "SCIMHUB_PUBLIC_URL": PUBLIC_URL, **(env or {})}
    return subprocess.run([SCIMHUB, *args], capture_output=True, text=True, env=full_env, timeout=60, input=stdin or "")
