#!/usr/bin/env bash
# Create the virtual environment and install scimhub with its test tools (idempotent).
set -euo pipefail
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
"$PYTHON" - <<'PY' || { echo "bootstrap: Python 3.11 or newer is required (set PYTHON=...)" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
stamp="$VENV/.installed"
if [ ! -x "$VENV/bin/python" ]; then "$PYTHON" -m venv "$VENV"; fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VENV/bin/pip" install --disable-pip-version-check -q --upgrade pip >/dev/null
  "$VENV/bin/pip" install --disable-pip-version-check -q -e '.[test]'
  touch "$stamp"
fi
