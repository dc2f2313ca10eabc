#!/usr/bin/env bash
# `make bench`: scimhub as the Procfile runs it (granian, one worker; Celery worker and beat; every feature
# on) against a fresh bench database with a few tenants, then ../shared/bench/compare.sh drives the Entra mix
# against it, the lean yardstick and the peer scim2-server in one run and prints the ratios.
# Then ops/bench_pipeline.py (run as `python -m ops.bench_pipeline` from the repository root) measures the
# activity pipeline (outbox cost, lag, backlog, drain rate), and ops/bench_requests.py the statements and CPU per
# request type.
# Then the same Entra mix on our service alone, straight to PostgreSQL and then with web and worker behind a
# PgBouncer in transaction mode (ops/pgbouncer.py; PGBOUNCER=0 skips it).
# Last, ops/bench_attacks.py: what attacks on one tenant cost another (issue #11).
# Knobs: WEB2 (1: the comparison again with two web processes), BENCH_RATE_LIMIT (5000 per tenant and second), REPS (default 2), DURATION (15), CONCURRENCY (8,64), TENANTS (4), PIPELINE_CONCURRENCY (64),
# PGBOUNCER_DURATION (10), PGBOUNCER_CONCURRENCY (64), PGBOUNCER_POOL (12, its server connections),
# PGBOUNCER_REPS (2), ATTACK_DURATION (10), REQUESTS_PER_TYPE (300).
set -euo pipefail
NAME=bench REDIS_DB=13
export PORT="${BENCH_PORT:-18471}"
export SCIMHUB_DATABASE_URL="${BENCH_DATABASE_URL:-postgresql://127.0.0.1:5432/scimhub_bench}"
# shellcheck source=ops/scratch-server.sh
. ops/scratch-server.sh
COMPARE="$SHARED/bench/compare.sh"
[ -x "$COMPARE" ] || { echo "bench: $COMPARE not found (set SCIMHUB_SHARED)" >&2; exit 1; }
tenants="$RUN_DIR/tenants.txt"
: > "$tenants"
for i in $(seq "${TENANTS:-4}"); do
  slug="bench-$i-$(date +%s)"
  scimhub tenant create "$slug" --json \
    | python3 -c 'import json,sys; t=json.load(sys.stdin); print(t["token"] + "@" + t["scim_url"])' >> "$tenants"
  # The rate limit stays on, raised: one process now answers ~1,000 rps over the 4 tenants, past the default
  # 250/s per tenant, and the figure is to be throughput, not cheap 429s (each request is still counted).
  scimhub tenant set "$slug" --rate-limit "${BENCH_RATE_LIMIT:-5000}" > /dev/null
done
WITH_WORKER="${WITH_WORKER:-1}" bash ops/serve.sh
"$COMPARE" --target-tenants "$tenants" --reps "${REPS:-2}" --duration "${DURATION:-15}" \
  --concurrency "${CONCURRENCY:-8,64}" --out "$RUN_DIR/compare"
if [ "${WEB2:-1}" = 1 ]; then  # issue #13: per-core efficiency above; two web processes reported separately
  bash ops/stop.sh
  echo "the same comparison with WEB_CONCURRENCY=2 (two granian workers; worker and beat as before):"
  WEB_CONCURRENCY=2 WITH_WORKER=1 bash ops/serve.sh
  "$COMPARE" --target-tenants "$tenants" --reps "${REPS:-2}" --duration "${DURATION:-15}" \
    --concurrency "${CONCURRENCY:-8,64}" --out "$RUN_DIR/compare-web2"
  bash ops/stop.sh
  WITH_WORKER=1 bash ops/serve.sh
fi
# Where one request's CPU goes (web, worker, PostgreSQL, Redis, load generator), beside the yardstick, and
# what a per-request SET LOCAL scope costs the yardstick itself (issue #13).
"$VENV/bin/python" -m ops.bench_cpu_split --tenants "$tenants" --shared "$SHARED" --reps "${REPS:-2}" \
  --duration "${DURATION:-15}" --concurrency "${CONCURRENCY:-8,64}" \
  --loader-python "${SCIMHUB_BENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/scimhub-bench/venv}/bin/python"
"$VENV/bin/python" -m ops.bench_pipeline --run-dir "$RUN_DIR" --reps "${REPS:-2}" --duration "${DURATION:-15}" \
  --concurrency "${PIPELINE_CONCURRENCY:-64}" \
  --loader-python "${SCIMHUB_BENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/scimhub-bench/venv}/bin/python"
# Database round trips and CPU per SCIM request type (issue #13), in process, on a tenant of its own.
"$VENV/bin/python" -m ops.bench_requests --requests "${REQUESTS_PER_TYPE:-300}"
if [ "${PGBOUNCER:-1}" = 1 ]; then
  export COMPARE
  echo "throughput with and without PgBouncer (transaction mode), Entra mix on scimhub only (rps, p50, p99):"
  for rep in $(seq "${PGBOUNCER_REPS:-2}"); do  # alternated, so neither always runs on a warmer machine
    bash ops/bench_pgbouncer.sh "direct-$rep" "$tenants"
    "$VENV/bin/python" -m ops.pgbouncer run --database-url "$SCIMHUB_DATABASE_URL" --export app \
      --pool-size "${PGBOUNCER_POOL:-12}" -- bash ops/bench_pgbouncer.sh "pgbouncer-$rep" "$tenants" | grep -v '^pgbouncer (transaction mode) on'
  done
fi
# Last: tenant B's latency while tenant A or a stranger attacks (slow filters, sign-in flood, junk paths,
# random tokens), from a web process of its own; issue #11's goals printed beside the figures.
"$VENV/bin/python" -m ops.bench_attacks --run-dir "$RUN_DIR/attacks" --duration "${ATTACK_DURATION:-10}"
