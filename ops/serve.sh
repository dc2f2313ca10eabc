#!/usr/bin/env bash
# Start scimhub (web, and with WITH_WORKER=1 a Celery worker and beat) against DATABASE for a script that
# drives it (conformance, benchmarks). Prints nothing; writes pids to $RUN_DIR/pids. WEB_CONCURRENCY: web
# processes (1, as the Procfile's default and the references). Usage:
#   RUN_DIR=... PORT=... SCIMHUB_DATABASE_URL=... ops/serve.sh
set -euo pipefail
: "${RUN_DIR:?}" "${PORT:?}" "${SCIMHUB_DATABASE_URL:?}"
VENV="${VENV:-.venv}"
mkdir -p "$RUN_DIR"
export PATH="$PWD/$VENV/bin:$PATH"
setsid granian --interface asgi --host 127.0.0.1 --port "$PORT" --workers "${WEB_CONCURRENCY:-1}" --loop uvloop --log-level warning \
  scimhub.asgi:app > "$RUN_DIR/web.log" 2>&1 &
echo $! >> "$RUN_DIR/pids"
if [ "${WITH_WORKER:-0}" = 1 ]; then
  setsid celery -A workers.celery_app worker -Q audit,email,webhook --concurrency 1 --loglevel WARNING \
    > "$RUN_DIR/worker.log" 2>&1 &
  echo $! >> "$RUN_DIR/pids"
  setsid celery -A workers.celery_app beat --loglevel WARNING --schedule "$RUN_DIR/beat-schedule" \
    > "$RUN_DIR/beat.log" 2>&1 &
  echo $! >> "$RUN_DIR/pids"
fi
for _ in $(seq 80); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/health', timeout=1)" 2>/dev/null; then
    exit 0
  fi
  sleep 0.25
done
echo "serve: scimhub did not come up on port $PORT; see $RUN_DIR/web.log" >&2
tail -20 "$RUN_DIR/web.log" >&2
exit 1
