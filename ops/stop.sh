#!/usr/bin/env bash
# Stop what ops/serve.sh started (by process group).
RUN_DIR="${RUN_DIR:?}"
[ -f "$RUN_DIR/pids" ] || exit 0
while read -r pid; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done < "$RUN_DIR/pids"
sleep 1
while read -r pid; do kill -KILL -- "-$pid" 2>/dev/null || true; done < "$RUN_DIR/pids"
rm -f "$RUN_DIR/pids"
