"""The users a web process last read or wrote, for a PATCH to start from without reading again (issue #13).

Entra reads a user (by id, or by a filter that finds it) and then PATCHes it; the PATCH read the row again
before its conditional UPDATE, one more statement. A snapshot kept here lets it go straight to that UPDATE,
which writes only while the row is still at the snapshot's version (`store.update(expected_version=...)`).
Every write of a user bumps its version (`store/resources.py` holds the only statements that change a user,
each with `version = version + 1`), so a version names one document: a PATCH that starts from a snapshot
writes exactly what it would have written after a read. A stale snapshot (a write by another process, a PUT,
a DELETE) makes the UPDATE write nothing, and the PATCH reads the row as before; so does a snapshot on which
the operations fail (the error must be the current document's, not an old one's), and a PATCH with
`If-Match` or one that answers with the user's groups never starts from one.

Per process, bounded in number and in age (Entra PATCHes a user within a second of reading it; a document
kept longer would only hold personal data in memory for nothing), keyed by tenant: a PATCH never starts
from another tenant's row (and PostgreSQL scopes the UPDATE to the tenant anyway). A snapshot is taken out
by the PATCH that uses it; the PATCH keeps the row it wrote. Groups are not kept: Entra's member PATCH is one
statement already (`store.patch_members`).
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

import msgspec

from scimhub.store.resources import Row

DEFAULT_SIZE = 2048  # ~4.4 kB each for a full Entra user: ~9 MB per web process at most
DEFAULT_SECONDS = 60.0


class Snapshots:
    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        seconds: float = DEFAULT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self.seconds = seconds
        self._clock = clock
        self._rows: OrderedDict[tuple[int, uuid.UUID], tuple[float, Row]] = OrderedDict()
        self.used = 0  # PATCHes that started from a snapshot (tests read it)

    def keep(self, tenant_id: int, row: Row) -> None:
        """The user as stored now (without its groups, which a PATCH from a snapshot does not answer with)."""
        key = (tenant_id, row.id)
        now = self._clock()
        self._rows[key] = (now, row if row.related is None else msgspec.structs.replace(row, related=None))
        self._rows.move_to_end(key)
        # Kept in the order they were kept: the oldest are in front.
        while self._rows and (len(self._rows) > self.size or next(iter(self._rows.values()))[0] < now - self.seconds):
            self._rows.popitem(last=False)

    def take(self, tenant_id: int, rid: uuid.UUID) -> Row | None:
        kept = self._rows.pop((tenant_id, rid), None)
        if kept is None or kept[0] < self._clock() - self.seconds:
            return None
        return kept[1]

    def __len__(self) -> int:
        return len(self._rows)
