"""The workers' counters and gauges in Redis (`scimhub.metrics.bump`, `put`) share one connection per process."""

from __future__ import annotations

import os

import redis

from scimhub import metrics
from tests.support.settings import REDIS_URL


def _value(name: str) -> bytes | None:
    value = redis.Redis.from_url(REDIS_URL).get(metrics.REDIS_PREFIX + name)
    assert value is None or isinstance(value, bytes)
    return value


def test_counters_and_gauges_reuse_one_connection() -> None:
    metrics.bump(REDIS_URL, "test_reuse_counter")  # connects
    connection = metrics._client(REDIS_URL).client_id()
    for _ in range(5):
        metrics.bump(REDIS_URL, "test_reuse_counter")
        metrics.put(REDIS_URL, "test_reuse_gauge", 2.5)
    assert metrics._client(REDIS_URL).client_id() == connection  # a new client per call opened a new one
    assert int(_value("test_reuse_counter") or 0) >= 6
    assert _value("test_reuse_gauge") == b"2.5"


def test_a_forked_child_counts_on_a_connection_of_its_own() -> None:
    metrics.bump(REDIS_URL, "test_fork_counter")
    parent = metrics._client(REDIS_URL).client_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: as a Celery prefork child after the parent counted
        try:
            metrics.bump(REDIS_URL, "test_fork_counter")
            os.write(write, str(metrics._client(REDIS_URL).client_id()).encode())
        finally:
            os._exit(0)
    os.close(write)
    child = int(os.read(read, 64) or b"0")
    os.close(read)
    os.waitpid(pid, 0)
    assert child and child != parent  # never the parent's socket, shared across the fork
    assert metrics._client(REDIS_URL).client_id() == parent
