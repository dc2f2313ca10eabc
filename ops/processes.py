"""Starting and stopping real scimhub processes from Python: benchmarks here in ops/, and the tests
(tests/support/processes.py builds its stacks on these). The shell scripts (serve.sh, run.sh) and the Procfile
start the same commands."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def start_web(database: str, log: Path, env: dict[str, str] | None = None, *, ready_within: float = 30) -> LiveServer:
    """A scimhub web process (granian, one worker) on a free loopback port, once its /health answers.
    It inherits this process's environment, then the database, its own URL as public URL, then `env`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, "SCIMHUB_DATABASE_URL": database, "SCIMHUB_PUBLIC_URL": url, **(env or {})}
    proc = subprocess.Popen(
        [
            str(BIN / "granian"),
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--log-level",
            "warning",
            "scimhub.asgi:app",
        ],
        env=full_env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + ready_within  # a start-up guard: the process may also have failed
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return LiveServer(url, proc, log)
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    stop_process(proc)
    raise RuntimeError(f"scimhub web did not start: {log.read_text()[-2000:]}")


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal the process's whole group (it was started in a session of its own); SIGKILL after 10 s."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
