"""Waiting on a condition, never on a duration.

A test that needs another process to finish something waits until the condition holds, with a deadline far
beyond any healthy run: the deadline only turns a hang into a failure with a message, it never decides a
timing question (those are driven explicitly: `now=`, a paused recorder, a beat entry the test runs).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
PATIENCE = 120.0  # seconds; a healthy run needs a small fraction of it even on a busy 2-core machine


async def wait_until(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str, *, patience: float = PATIENCE
) -> T:
    """Poll `probe()` until `done(value)`; return that value. AssertionError naming `what` after `patience`."""
    deadline = time.monotonic() + patience
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {patience:.0f}s waiting for {what}; last seen: {value!r}")
        await asyncio.sleep(0.1)
