"""`ActivityRecorder.stop` ends even when its cancel meets a wake-up (the hang of `ops.bench_requests`' exit).

On Python 3.11, `asyncio.wait_for` returns normally when the task is cancelled in the same loop step as the
awaited future completes, so a recorder loop waiting in `wait_for` swallowed `stop()`'s cancel and ran on. The
order of the steps below is the event loop's (FIFO callbacks), not a race: the old code hung here every time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from scimhub.audit.recorder import ActivityRecorder


async def test_stop_ends_when_its_cancel_arrives_with_a_wake_up() -> None:
    pool: Any = None  # nothing is buffered, so neither the flush nor stop touches the database
    recorder = ActivityRecorder(pool, "install", None, interval=3600.0)  # the timer never fires by itself
    recorder.start()
    await asyncio.sleep(0)  # the loop is now waiting for a wake-up
    recorder._wake.set()  # a full batch wakes it, in the same loop step as the cancel below
    # The deadline only turns a hang into a failure (the interval is an hour).
    async with asyncio.timeout(60):
        await recorder.stop()
    assert recorder._task is None
