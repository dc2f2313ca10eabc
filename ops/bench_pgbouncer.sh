#!/usr/bin/env bash
# Called by ops/bench.sh (twice: straight to PostgreSQL, then under `python -m ops.pgbouncer run --export app`):
# serve scimhub as the Procfile does, drive only our service with the Entra mix, stop it. Usage:
#   ops/bench_pgbouncer.sh LABEL TENANTS_FILE   (RUN_DIR, PORT, SCIMHUB_DATABASE_URL, COMPARE set by bench.sh)
set -euo pipefail
label="$1" tenants="$2"
bash ops/stop.sh
WITH_WORKER=1 bash ops/serve.sh
"$COMPARE" --systems target --target-tenants "$tenants" --reps 1 --duration "${PGBOUNCER_DURATION:-10}" \
  --concurrency "${PGBOUNCER_CONCURRENCY:-64}" --out "$RUN_DIR/pgbouncer-$label" > "$RUN_DIR/pgbouncer-$label.txt"
bash ops/stop.sh
echo "$label: $(grep -E '^ +[0-9]+ +target' "$RUN_DIR/pgbouncer-$label.txt" | tr -s ' ')"
