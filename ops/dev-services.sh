#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are running: use them when they answer,
# otherwise start local ones (Debian/Ubuntu packages via apt and pg_createcluster, Homebrew on macOS).
# PgBouncer is only installed (its service is not started): tests and benchmarks run their own
# (ops/pgbouncer.py).
set -euo pipefail

reachable() {  # host port
  python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(1)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
PY
}

wait_for() {  # name host port
  for _ in $(seq 60); do reachable "$2" "$3" && return 0; sleep 0.5; done
  echo "dev-services: $1 did not come up on $2:$3" >&2
  exit 1
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

start_postgres() {
  if [ "$(uname)" = Darwin ]; then
    brew list postgresql@16 >/dev/null 2>&1 || brew install postgresql@16
    brew services start postgresql@16
    return
  fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$version" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -1)
    as_root pg_createcluster "$version" main
  fi
  # Local development: trust connections on loopback (never do this on a shared host).
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! as_root grep -q "scimhub-dev" "$hba"; then
    as_root sh -c "printf '%s\n%s\n' 'host all all 127.0.0.1/32 trust # scimhub-dev' 'host all all ::1/128 trust # scimhub-dev' | cat - '$hba' > '$hba.new' && mv '$hba.new' '$hba'"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || as_root pg_ctlcluster "$version" main start
  wait_for PostgreSQL 127.0.0.1 5432
  local me
  me=$(id -un)
  as_root su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname = '$me'\" | grep -q 1 || createuser -s '$me'" || true
}

start_redis() {
  if [ "$(uname)" = Darwin ]; then
    brew list redis >/dev/null 2>&1 || brew install redis
    brew services start redis
    return
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

install_pgbouncer() {
  command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] && return 0
  echo "dev-services: installing PgBouncer"
  if [ "$(uname)" = Darwin ]; then brew install pgbouncer; return; fi
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
}

install_pgbouncer
if reachable 127.0.0.1 5432; then echo "dev-services: PostgreSQL is up on 127.0.0.1:5432"; else
  echo "dev-services: starting PostgreSQL"; start_postgres; wait_for PostgreSQL 127.0.0.1 5432; fi
if reachable 127.0.0.1 6379; then echo "dev-services: Redis is up on 127.0.0.1:6379"; else
  echo "dev-services: starting Redis"; start_redis; wait_for Redis 127.0.0.1 6379; fi
