#!/usr/bin/env bash
# `make conformance`: Microsoft's and Okta's suites (../shared/conformance) against a running scimhub,
# each suite on a fresh tenant, with ALLOW_KNOWN=1 (the listed deviations contradict the RFCs).
set -euo pipefail
NAME=conformance REDIS_DB=14
export PORT="${CONFORMANCE_PORT:-18391}"
export SCIMHUB_DATABASE_URL="${CONFORMANCE_DATABASE_URL:-postgresql://127.0.0.1:5432/scimhub_conformance}"
# shellcheck source=ops/scratch-server.sh
. ops/scratch-server.sh
RUNNER="$SHARED/conformance/run-postman.sh"
[ -x "$RUNNER" ] || { echo "conformance: $RUNNER not found (set SCIMHUB_SHARED)" >&2; exit 1; }
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
