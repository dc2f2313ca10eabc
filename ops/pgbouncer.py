"""A PgBouncer of its own, in transaction mode, in front of the local PostgreSQL (tests and benchmarks).

Debian's `pgbouncer` (1.18: no prepared statements across transactions), installed by ops/dev-services.sh.
Its config file, auth file, log and pid file live in a temporary directory; it listens on a free loopback
port and forwards every database to 127.0.0.1:5432 as the app login.

    python -m ops.pgbouncer run --database-url URL [--export test|app] [--pool-size N] -- COMMAND ...

starts one, runs COMMAND with the app database URL pointing at it (`--export app`: SCIMHUB_APP_DATABASE_URL and
SCIMHUB_APP_DATABASE_POOL_MODE=transaction; `--export test`: the SCIMHUB_TEST_APP_* variables the test
settings read), stops it, and exits with COMMAND's status.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ops.processes import free_port, stop_process
from scimhub.settings import load_settings
from scimhub.tenancy.roles import login_role

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


class PgBouncer:
    def __init__(self, workdir: Path, login: str, *, pool_size: int = 5, upstream_port: int = 5432) -> None:
        self.workdir = workdir
        self.login = login
        self.pool_size = pool_size
        self.upstream_port = upstream_port
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, database_url: str) -> str:
        """`database_url`'s database, reached through this PgBouncer as the app login."""
        parts = urlsplit(database_url)
        return urlunsplit(("postgresql", f"{self.login}@127.0.0.1:{self.port}", parts.path, "", ""))

    def _config(self) -> Path:
        auth = self.workdir / "users.txt"
        auth.write_text(f'"{self.login}" ""\n')
        ini = self.workdir / "pgbouncer.ini"
        ini.write_text(
            f"""[databases]
* = host=127.0.0.1 port={self.upstream_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {auth}
pool_mode = transaction
; fewer server connections than clients, so that clients really share them
default_pool_size = {self.pool_size}
max_client_conn = 400
logfile = {self.workdir / "pgbouncer.log"}
pidfile = {self.workdir / "pgbouncer.pid"}
"""
        )
        return ini

    def start(self) -> None:
        ini = self._config()
        command = [PGBOUNCER, "-q", str(ini)]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root: drop to an unprivileged user
            user = "postgres" if _user_exists("postgres") else "nobody"
            entry = pwd.getpwnam(user)
            for path in (self.workdir, *self.workdir.iterdir()):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            command[1:1] = ["-u", user]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 10  # a start-up guard, not a timing assertion
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        log = self.workdir / "pgbouncer.log"
        raise RuntimeError(f"pgbouncer did not start: {log.read_text()[-2000:] if log.exists() else ''}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGINT)  # SIGINT: a safe shutdown
            self.proc = None


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print("usage: python -m ops.pgbouncer run --database-url URL [--export test|app] -- COMMAND ...")
        return 2
    split = argv.index("--")
    ap = argparse.ArgumentParser(prog="python -m ops.pgbouncer")
    ap.add_argument("action", choices=["run"])
    ap.add_argument("--database-url", required=True, help="the owner's URL of the database to reach")
    ap.add_argument("--export", choices=["test", "app"], default="app")
    ap.add_argument("--pool-size", type=int, default=5)
    args = ap.parse_args(argv[:split])
    command = argv[split + 1 :]
    app_url = load_settings({"SCIMHUB_DATABASE_URL": args.database_url}).app_database_url
    with tempfile.TemporaryDirectory(prefix="scimhub-pgbouncer-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)
        bouncer = PgBouncer(workdir, login_role(app_url), pool_size=args.pool_size)
        bouncer.start()
        prefix = "SCIMHUB_TEST_APP_DATABASE" if args.export == "test" else "SCIMHUB_APP_DATABASE"
        env = {**os.environ, f"{prefix}_URL": bouncer.url(args.database_url), f"{prefix}_POOL_MODE": "transaction"}
        print(f"pgbouncer (transaction mode) on 127.0.0.1:{bouncer.port} -> 127.0.0.1:5432", flush=True)
        try:
            return subprocess.call(command, env=env)
        finally:
            bouncer.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
