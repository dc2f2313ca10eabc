"""`provisioning.snapshots.Snapshots`: bounded in number and age, keyed by tenant, taken once."""

from __future__ import annotations

import datetime as dt
import uuid

from scimhub.provisioning.snapshots import Snapshots
from scimhub.store.resources import Row

NOW = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)


def _row(related: list[dict[str, str]] | None = None) -> Row:
    return Row(uuid.uuid4(), {"userName": "u"}, NOW, NOW, 1, related)


def test_a_snapshot_is_the_tenants_own_and_is_taken_once() -> None:
    snapshots = Snapshots()
    row = _row(related=[{"value": "g"}])
    snapshots.keep(1, row)
    assert snapshots.take(2, row.id) is None  # another tenant's PATCH of the same id
    kept = snapshots.take(1, row.id)
    assert kept is not None and kept.doc == row.doc and kept.related is None  # groups are never kept
    assert snapshots.take(1, row.id) is None


def test_the_least_recently_kept_go_first_past_the_size() -> None:
    snapshots = Snapshots(size=3)
    rows = [_row() for _ in range(4)]
    for row in rows[:3]:
        snapshots.keep(1, row)
    snapshots.keep(1, rows[0])  # kept again: now the newest
    snapshots.keep(1, rows[3])
    assert len(snapshots) == 3
    assert snapshots.take(1, rows[1].id) is None
    assert all(snapshots.take(1, r.id) is not None for r in (rows[0], rows[2], rows[3]))


def test_a_snapshot_older_than_its_age_limit_is_never_used_and_is_dropped() -> None:
    now = [100.0]
    snapshots = Snapshots(seconds=60, clock=lambda: now[0])
    old, young = _row(), _row()
    snapshots.keep(1, old)
    now[0] = 130.0
    snapshots.keep(1, young)
    now[0] = 161.0  # old is 61 s old, young 31 s
    assert snapshots.take(1, old.id) is None
    assert snapshots.take(1, young.id) is not None
    snapshots.keep(1, old)
    now[0] = 230.0
    snapshots.keep(1, young)  # keeping drops what has aged out
    assert len(snapshots) == 1
