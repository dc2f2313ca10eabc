#!/usr/bin/env bash
# `make run`: migrate, make sure a demo tenant exists, then run web + worker + beat (+ a local SMTP sink
# when SCIMHUB_SMTP_URL is unset) until Ctrl-C.
set -euo pipefail
VENV="${VENV:-.venv}"
export PATH="$PWD/$VENV/bin:$PATH"
scimhub migrate
if ! scimhub tenant list --json | python3 -c 'import json,sys; sys.exit(0 if any(t["slug"]=="demo" for t in json.load(sys.stdin)) else 1)'; then
  scimhub tenant create demo --name "Demo tenant"
else
  echo "tenant demo exists; its Tenant URL: ${SCIMHUB_PUBLIC_URL:-http://127.0.0.1:8000}/scim/v2/demo"
  echo "(its token was shown when it was created; 'scimhub tenant token rotate demo' issues a new one)"
fi
# Webhooks to a local receiver (http://127.0.0.1:...) are allowed in development only.
export SCIMHUB_WEBHOOK_ALLOW_PRIVATE="${SCIMHUB_WEBHOOK_ALLOW_PRIVATE:-true}"
procs="web worker beat"
if [ -z "${SCIMHUB_SMTP_URL:-}" ]; then
  export SCIMHUB_SMTP_URL="smtp://127.0.0.1:${SCIMHUB_DEV_SMTP_PORT:-8025}"
  export SCIMHUB_DEV_MAILDIR="${SCIMHUB_DEV_MAILDIR:-$PWD/.run/mail}"
  mkdir -p "$SCIMHUB_DEV_MAILDIR"
  echo "no SCIMHUB_SMTP_URL: mails go to a local sink on $SCIMHUB_SMTP_URL, kept in $SCIMHUB_DEV_MAILDIR"
  procs="$procs smtp"
fi
# honcho hands each process PORT = base + 100 x its position; web comes first, so it gets the base port.
exec honcho start -f Procfile.dev -p "${PORT:-8000}" $procs
