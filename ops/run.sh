#!/usr/bin/env bash
# `make run`: migrate, make sure a demo tenant (and, the first time, a demo administrator) exists, print where
# to go, then run web + worker + beat (+ a local SMTP sink when SCIMHUB_SMTP_URL is unset) until Ctrl-C.
# One Ctrl-C (SIGINT to the foreground process group) stops everything: honcho sends SIGTERM to each
# process's group and SIGKILL after 5 s (tests/integration/test_make_run.py checks that none is left).
# Environment: PORT (8000), SCIMHUB_PUBLIC_URL (http://127.0.0.1:$PORT), SCIMHUB_DEV_RUN_DIR (.run: beat
# schedule, mails), SCIMHUB_DEV_SMTP_PORT (8025), SCIMHUB_DEMO_ADMIN_EMAIL (admin@demo.example), and every
# SCIMHUB_* setting of the README.
set -euo pipefail
VENV="${VENV:-.venv}"
export PATH="$PWD/$VENV/bin:$PATH"
export PORT="${PORT:-8000}"
export SCIMHUB_PUBLIC_URL="${SCIMHUB_PUBLIC_URL:-http://127.0.0.1:$PORT}"
export SCIMHUB_DEV_RUN_DIR="${SCIMHUB_DEV_RUN_DIR:-$PWD/.run}"
mkdir -p "$SCIMHUB_DEV_RUN_DIR"
hub="$SCIMHUB_PUBLIC_URL/hub/demo"
scimhub migrate
if created=$(scimhub tenant create demo --name "Demo tenant" 2>&1); then
  echo "$created"
else
  case "$created" in
    *"already exists"*)
      echo "tenant demo exists; its Tenant URL: $SCIMHUB_PUBLIC_URL/scim/v2/demo"
      echo "(its token was shown when it was created; 'scimhub tenant token rotate demo' issues a new one)" ;;
    *) echo "$created" >&2; exit 1 ;;
  esac
fi
if [ "$(scimhub admin list demo --json)" = "[]" ]; then
  scimhub admin create demo "${SCIMHUB_DEMO_ADMIN_EMAIL:-admin@demo.example}"
else
  echo "demo administrators exist ('scimhub admin list demo'); sign in at: $hub/login"
fi
echo "admin hub: sign in at $hub/login, then open Connectors > SCIM ($hub/connectors/scim)"
procs="web worker beat"
if [ -z "${SCIMHUB_SMTP_URL:-}" ]; then
  export SCIMHUB_SMTP_URL="smtp://127.0.0.1:${SCIMHUB_DEV_SMTP_PORT:-8025}"
  export SCIMHUB_DEV_MAILDIR="${SCIMHUB_DEV_MAILDIR:-$SCIMHUB_DEV_RUN_DIR/mail}"
  mkdir -p "$SCIMHUB_DEV_MAILDIR"
  echo "no SCIMHUB_SMTP_URL: mails go to a local sink on $SCIMHUB_SMTP_URL, kept in $SCIMHUB_DEV_MAILDIR"
  procs="$procs smtp"
fi
# honcho hands each process PORT = base + 100 x its position; web comes first, so it gets the base port.
exec honcho start -f Procfile.dev -p "$PORT" $procs
