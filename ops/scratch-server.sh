# Sourced by ops/conformance.sh and ops/bench.sh: a scratch database and port, scimhub on PATH, the shared kit.
# Needs NAME (scratch name), DEFAULT_PORT and REDIS_DB set by the caller.
SHARED="${SCIMHUB_SHARED:-$(cd .. && pwd)/shared}"
VENV="${VENV:-.venv}"
export PATH="$PWD/$VENV/bin:$PATH"
export RUN_DIR="$PWD/.run/$NAME"
export SCIMHUB_PUBLIC_URL="http://127.0.0.1:$PORT"
export SCIMHUB_REDIS_URL="${SCIMHUB_REDIS_URL:-redis://127.0.0.1:6379/$REDIS_DB}"
rm -rf "$RUN_DIR"; mkdir -p "$RUN_DIR"
trap 'bash ops/stop.sh' EXIT
scimhub migrate > "$RUN_DIR/migrate.log"
