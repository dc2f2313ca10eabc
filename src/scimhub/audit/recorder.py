"""The web process's side of the activity log.

Guarantees (also in the README):
- a write that was answered with success has its event in the outbox, written by the write's own statement
  in the same transaction (`store` `outbox=`), so no failure of Redis, a worker or this process can lose it;
- events of reads, rejected requests and failed writes change nothing; they are buffered here and written
  every `interval` (100 ms) or `max_batch` events straight into the activity log (they belong to no
  transaction, so the outbox detour would only cost an insert and a delete each). A process killed in between
  loses at most those last events; if PostgreSQL is unreachable the buffer keeps at most `max_buffer` events,
  then drops the oldest (counted in the metrics);
- authentication failures are counted per tenant URL, and requests refused by a tenant's rate limit per
  tenant, each written as one event per flush (its `repeat` the count), so a flood of bad tokens or of
  requests over the limit cannot flood a tenant's log;
- one bad event never delays another, and one tenant never delays another: each tenant's events are written
  in their own transactions; an event PostgreSQL refuses for its content is set aside by `audit.quarantine`
  (sanitised entry in the log, the original in the tenant's `activity_quarantine`, counted in `quarantined`
  and `sanitised`) while the rest of the batch is written; a tenant whose writes fail for any other reason
  keeps its events and is retried after a back-off of its own (0.5 s doubling to 30 s), while the others are
  flushed on time;
- flushes never overlap: when `flush()` returns, every event buffered before the call is in the activity log
  (written by this call, or by the timer's flush that was under way), or it raised `FlushError` and the
  events of the tenants it names stay buffered.
After each flush the drain task is nudged, at most once per interval and from a thread with short broker
timeouts: a hung or stopped Redis never blocks a request, and the beat sweep finds what a lost nudge missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
import msgspec

from scimhub.audit.events import ActivityEvent, encode_event
from scimhub.audit.outbox import log_encoded
from scimhub.audit.quarantine import isolate, quarantine, refused_by_data
from scimhub.tenancy import directory
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.transaction import tenant_statement, tenant_transaction

log = logging.getLogger("scimhub.audit")


_CHUNK = 1000  # events per statement (and per transaction)
# How long a flush waits for a tenant's connection (its share of the pool may be taken by its own slow
# requests): then that tenant backs off and the others are flushed, instead of all waiting behind it.
_ACQUIRE_TIMEOUT = 0.25
_MAX_BACKOFF = 30.0


@dataclass
class _Pending:
    tenant: Tenant
    events: list[bytes] = field(default_factory=list)
    failures: int = 0  # consecutive failed flushes of this tenant
    retry_at: float = 0.0  # monotonic time before which the timer's flush leaves this tenant alone


class FlushError(Exception):
    """Some tenants' events could not be written (they stay buffered); the others were. Carries the first
    error as its cause."""

    def __init__(self, failed: list[tuple[str, BaseException]]) -> None:
        slugs = ", ".join(slug for slug, _ in failed[:10])
        super().__init__(f"activity of {len(failed)} tenant(s) not flushed: {slugs}")
        self.failed = failed


class ActivityRecorder:
    def __init__(
        self,
        pool: asyncpg.Pool,
        install_id: str,
        nudge: Callable[[list[int]], None] | None,
        *,
        interval: float = 0.1,
        max_batch: int = 200,
        max_buffer: int = 20_000,
        nudge_interval: float = 0.2,
    ) -> None:
        self._pool = pool
        self._install_id = install_id
        self._nudge = nudge
        self.interval = interval
        self.max_batch = max_batch
        self.max_buffer = max_buffer
        self._pending: dict[int, _Pending] = {}
        self._auth_failures: dict[str, tuple[int, ActivityEvent]] = {}
        self._rate_limited: dict[int, tuple[Tenant, int, ActivityEvent]] = {}
        self._written: set[int] = set()
        self._count = 0
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._nudging = False
        self._nudge_interval = nudge_interval
        self._last_nudge = 0.0
        self.dropped = 0
        self.flushed = 0
        self.quarantined = 0  # events PostgreSQL refused as they were (see `audit.quarantine`)
        self.sanitised = 0  # of those, written to the log in sanitised form

    @property
    def buffered(self) -> int:
        """Events waiting for the next flush (the /ready check and the metrics show it)."""
        return self._count

    # ------------------------------------------------------------------------------------------ intake

    def wrote(self, tenant_id: int) -> None:
        """A write put its event in the tenant's outbox (in its own transaction): nudge the drain."""
        self._written.add(tenant_id)

    def buffer(self, tenant: Tenant, event: ActivityEvent) -> None:
        pending = self._pending.get(tenant.id)
        if pending is None:
            pending = self._pending[tenant.id] = _Pending(tenant)
        try:
            raw = encode_event(event)
        except (UnicodeError, msgspec.EncodeError):
            # Lone surrogates cannot be UTF-8: keep the event as the stdlib escapes it, so the flush sets
            # it aside (sanitised entry, original in the quarantine) like any other refused event.
            raw = json.dumps(msgspec.to_builtins(event)).encode()
        pending.events.append(raw)
        self._count += 1
        if self._count > self.max_buffer:
            self._drop_oldest()
        # A full batch flushes early, unless its tenant is backing off (its events wait for the back-off;
        # waking for them would turn every other tenant's batch into one statement per event).
        if len(pending.events) >= self.max_batch and pending.retry_at <= time.monotonic():
            self._wake.set()

    def auth_failure(self, slug: str, event: ActivityEvent) -> None:
        count, first = self._auth_failures.get(slug, (0, event))
        self._auth_failures[slug] = (count + 1, first)
        if len(self._auth_failures) > 10_000:  # unknown slugs from a scanner: forget them
            self._auth_failures.clear()

    def rate_limited(self, tenant: Tenant, event: ActivityEvent) -> None:
        """A request refused by the tenant's rate limit: counted, one event per flush."""
        _, count, first = self._rate_limited.get(tenant.id, (tenant, 0, event))
        self._rate_limited[tenant.id] = (tenant, count + 1, first)

    def _drop_oldest(self) -> None:
        biggest = max(self._pending.values(), key=lambda p: len(p.events))
        drop = max(1, len(biggest.events) // 10)
        del biggest.events[:drop]
        self._count -= drop
        self.dropped += drop

    # ------------------------------------------------------------------------------------------ flushing

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="activity-recorder")

    async def stop(self) -> None:
        """End the timer's flushes, then flush what is buffered. The loop also ends on `_stopping`, not only on
        the cancel: Python 3.11's `asyncio.wait_for` returns instead of raising when the cancel arrives with
        the wake-up (`_wake` set by a full batch, the inner wait already done), so a cancel alone could be
        swallowed and this await would never end (`ops.bench_requests` hung here on exit)."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except FlushError as exc:  # shutting down: what is still buffered is lost, and counted
            log.warning("%s; %d events dropped at shutdown", exc, self._count)
            self.dropped += self._count

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):  # the interval passed without a wake-up: flush anyway
                # `asyncio.timeout`, not `wait_for`: it never turns a cancel into a normal return.
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                async with self._flushing:
                    await self._flush(respect_backoff=True)
            except FlushError as exc:
                for slug, cause in exc.failed:
                    log.warning("activity of tenant %s not flushed (%s); will retry", slug, type(cause).__name__)
            except Exception as exc:  # noqa: BLE001 - keep flushing; the events stay buffered
                log.warning("activity flush failed (%s); will retry", type(exc).__name__)
                await asyncio.sleep(min(2.0, self.interval * 10))

    @asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """No flush starts inside this block (one under way is waited for first); events keep buffering, up
        to `max_buffer`. For a caller that needs a group of events to land in one flush (tests do)."""
        async with self._flushing:
            yield

    async def flush(self) -> None:
        """Write everything buffered, every tenant now (whatever its back-off); see the module's guarantees.
        Raises FlushError naming the tenants whose events could not be written."""
        async with self._flushing:
            await self._flush(respect_backoff=False)

    async def _flush(self, *, respect_backoff: bool) -> None:
        pending, self._pending = self._pending, {}
        self._count = 0
        auth, self._auth_failures = self._auth_failures, {}
        limited, self._rate_limited = self._rate_limited, {}
        now = time.monotonic()
        failed: list[tuple[str, BaseException]] = []
        for tenant, count, first in limited.values():
            first.repeat = count
            if count > 1:
                first.error_detail = f"{count} requests over the tenant's rate limit"
            pending.setdefault(tenant.id, _Pending(tenant)).events.append(encode_event(first))
        try:
            if auth:
                failed.extend(await self._add_auth_failures(auth, pending))
            for item in pending.values():
                if not item.events or (respect_backoff and item.retry_at > now):
                    continue
                try:
                    await self._write(item)
                except Exception as exc:  # noqa: BLE001 - this tenant's events stay; the others go on
                    item.failures += 1
                    item.retry_at = time.monotonic() + min(_MAX_BACKOFF, 0.5 * 2 ** (item.failures - 1))
                    failed.append((item.tenant.slug, exc))
                else:
                    item.failures = 0
        finally:
            # Put back what was not written, ahead of anything buffered meanwhile (also when cancelled).
            for tid, item in pending.items():
                if item.events:
                    current = self._pending.get(tid)
                    if current is not None:
                        item.events.extend(current.events)
                    self._pending[tid] = item
                    self._count += len(item.events)
        self._maybe_nudge()
        if failed:
            raise FlushError(failed) from failed[0][1]

    async def _write(self, item: _Pending) -> None:
        """The tenant's events, a chunk per transaction; a chunk written leaves the buffer at once."""
        while item.events:
            chunk = item.events[:_CHUNK]
            try:
                # One statement: no explicit transaction needed (`tenant_statement`).
                async with tenant_statement(self._pool, item.tenant, acquire_timeout=_ACQUIRE_TIMEOUT) as conn:
                    await log_encoded(conn, chunk)
            except Exception as exc:
                if not refused_by_data(exc):
                    raise
                async with tenant_transaction(self._pool, item.tenant, acquire_timeout=_ACQUIRE_TIMEOUT) as conn:
                    refused = await isolate(conn, chunk, log_encoded)
                    done = await quarantine(conn, refused, stage="flush", log=log_encoded)
                self.quarantined += done.quarantined
                self.sanitised += done.sanitised
            del item.events[: len(chunk)]
            self.flushed += len(chunk)

    async def _add_auth_failures(
        self, auth: dict[str, tuple[int, ActivityEvent]], pending: dict[int, _Pending]
    ) -> list[tuple[str, BaseException]]:
        """One event per tenant URL with its repeat count, added to that tenant's events of this flush. Slugs
        of no tenant (a scanner's guesses) are dropped; when the lookup fails, the counts are kept."""
        try:
            async with self._pool.acquire() as conn:
                found = await directory.tenants_by_slug(conn, self._install_id, list(auth))
        except Exception as exc:  # noqa: BLE001 - counted again at the next flush
            for slug, (count, first) in auth.items():
                now_count, _ = self._auth_failures.get(slug, (0, first))
                self._auth_failures[slug] = (count + now_count, first)
            return [("(token failures)", exc)]
        for tenant in found:
            count, first = auth[tenant.slug]
            first.repeat = count
            if count > 1:
                first.error_detail = (
                    f"{count} requests with a missing, wrong, revoked or expired token, or while "
                    "the connector was switched off"
                )
            pending.setdefault(tenant.id, _Pending(tenant)).events.append(encode_event(first))
        return []

    def _maybe_nudge(self) -> None:
        # At most one publish per nudge_interval (a Celery publish costs about a millisecond of CPU).
        if not self._written or self._nudge is None or self._nudging:
            return
        if time.monotonic() - self._last_nudge < self._nudge_interval:
            return
        self._last_nudge = time.monotonic()
        ids, self._written = sorted(self._written), set()
        self._nudging = True
        nudge = self._nudge

        def publish() -> None:
            started = time.monotonic()
            try:
                nudge(ids)
            except Exception as exc:  # noqa: BLE001 - the beat sweep covers a lost nudge
                log.warning(
                    "audit nudge not published (%s after %.1fs); the sweep will pick it up",
                    type(exc).__name__,
                    time.monotonic() - started,
                )

        task = asyncio.get_running_loop().run_in_executor(None, publish)
        task.add_done_callback(lambda _f: setattr(self, "_nudging", False))
