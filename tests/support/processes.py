"""Real processes for tests: an own redis-server, scimhub web, Celery worker and beat.

The process primitives live in `ops.processes` (benchmarks use them too); here are the tests' defaults (the
test Redis database) and `Stack`, everything one fault or mail test needs, on a Redis of its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from celery import Celery
from ops.processes import BIN, LiveServer, free_port, stop_process
from ops.processes import start_web as start_ops_web

from scimhub import tasks
from scimhub.queue import make_celery
from tests.support.settings import RATE_LIMIT, REDIS_URL, make_settings

__all__ = ["LiveServer", "RedisProcess", "Stack", "free_port", "start_web", "stop_process"]

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def start_web(database: str, log: Path, extra_env: dict[str, str] | None = None) -> LiveServer:
    """A real scimhub web process on a free loopback port, publishing to the test Redis unless told otherwise."""
    return start_ops_web(
        database, log, {"SCIMHUB_REDIS_URL": REDIS_URL, "SCIMHUB_RATE_LIMIT": RATE_LIMIT, **(extra_env or {})}
    )


class RedisProcess:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10  # a start-up guard, not a timing assertion
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGKILL)  # abrupt: its queue contents are gone
            self.proc = None


class Stack:
    """Own Redis, web, worker and beat for one test."""

    def __init__(self, database: str, tmp: Path, extra_env: dict[str, str] | None = None) -> None:
        self.database = database
        self.extra_env = extra_env or {}
        self.tmp = tmp
        self.redis = RedisProcess(tmp)
        self.web: LiveServer | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.beat: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SCIMHUB_DATABASE_URL": self.database,
            "SCIMHUB_REDIS_URL": self.redis.url,
            "SCIMHUB_PUBLIC_URL": "http://127.0.0.1",
            "SCIMHUB_RATE_LIMIT": RATE_LIMIT,
            **self.extra_env,
        }

    def publisher(self) -> Celery:
        """A Celery app publishing to this stack's Redis, as the web process does."""
        return make_celery(make_settings(redis_url=self.redis.url))

    def start_web(self) -> None:
        self.web = start_web(
            self.database, self.tmp / "web.log", {"SCIMHUB_REDIS_URL": self.redis.url, **self.extra_env}
        )

    def start_worker(self, concurrency: int = 1, *, pool: str = "prefork") -> None:
        """A worker on every queue. With concurrency 1 it runs tasks one at a time in queue order (prefetch 1,
        late acks), which tests use to know that earlier tasks are done. `pool="solo"` runs tasks in the
        worker's main process."""
        self.worker = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "workers.celery_app",
                "worker",
                "-Q",
                ",".join(tasks.QUEUES),
                "-c",
                str(concurrency),
                "-P",
                pool,
                "--loglevel",
                "WARNING",
                "-n",
                f"w-{uuid.uuid4().hex[:6]}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            env=self.env(),
            stdout=(self.tmp / "worker.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_beat(self) -> None:
        self.beat = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "workers.celery_app",
                "beat",
                "--loglevel",
                "WARNING",
                "--schedule",
                str(self.tmp / f"beat-{uuid.uuid4().hex[:6]}"),
            ],
            env=self.env(),
            stdout=(self.tmp / "beat.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill_worker(self) -> None:
        if self.worker is not None:
            stop_process(self.worker, signal.SIGKILL)
            self.worker = None

    def stop(self) -> None:
        for proc in (self.worker, self.beat):
            if proc is not None:
                stop_process(proc)
        if self.web is not None:
            stop_process(self.web.process)
        self.redis.stop()
