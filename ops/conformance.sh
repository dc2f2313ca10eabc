#!/usr/bin/env bash
# `make conformance`: Microsoft's and Okta's suites (../shared/conformance) against a running scimhub,
# each suite on a fresh tenant, with ALLOW_KNOWN=1 (the listed deviations contradict the RFCs).
set -euo pipefail
SHARED="${SCIMHUB_SHARED:-$(cd .. && pwd)/shared}"
RUNNER="$SHARED/conformance/run-postman.sh"
[ -x "$RUNNER" ] || { echo "conformance: $RUNNER not found (set SCIMHUB_SHARED)" >&2; exit 1; }
VENV="${VENV:-.venv}"
export PATH="$PWD/$VENV/bin:$PATH"
export RUN_DIR="$PWD/.run/conformance"
export PORT="${CONFORMANCE_PORT:-18391}"
export SCIMHUB_DATABASE_URL="${CONFORMANCE_DATABASE_URL:-postgresql://127.0.0.1:5432/scimhub_conformance}"
export SCIMHUB_PUBLIC_URL="http://127.0.0.1:$PORT"
export SCIMHUB_REDIS_URL="${SCIMHUB_REDIS_URL:-redis://127.0.0.1:6379/14}"
rm -rf "$RUN_DIR"; mkdir -p "$RUN_DIR"
trap 'bash ops/stop.sh' EXIT
scimhub migrate > "$RUN_DIR/migrate.log"
WITH_WORKER=1 bash ops/serve.sh
status=0
for suite in ms okta; do
  slug="conf-$suite-$(date +%s)-$RANDOM"
  token=$(scimhub tenant create "$slug" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  echo "conformance: suite $suite on fresh tenant $slug"
  SUITES=$suite ALLOW_KNOWN=1 OUT_DIR="$RUN_DIR/results" "$RUNNER" "$SCIMHUB_PUBLIC_URL/scim/v2/$slug" "$token" \
    || status=1
  scimhub tenant delete "$slug" --yes > /dev/null
done
exit $status
