"""The embedded log's retention (issue 13 item 5): records written before the cutoff go, newer ones stay
and are still read; measuring (the dry run) deletes nothing."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bus.local import LocalBus
from tests.bus.test_local import TOPIC, _event, _poll_ids


async def test_records_older_than_the_cutoff_go_and_newer_ones_stay(tmp_path: Path) -> None:
    bus = LocalBus(tmp_path / "bus.db")
    await bus.ensure_topics([TOPIC])
    await bus.start()
    try:
        for n in range(5):
            await bus.publish(TOPIC, _event(n))
        three_days_ago = int((datetime.now(UTC) - timedelta(days=3)).timestamp() * 1000)
        with sqlite3.connect(tmp_path / "bus.db") as conn:  # the first three were written three days ago
            conn.execute("UPDATE records SET ts_ms = ? WHERE pos < 3", (three_days_ago,))
        cutoff = datetime.now(UTC) - timedelta(days=2)

        count, size = await bus.older_than(cutoff)
        assert count == 3 and size > 0
        assert await bus.count() == 5  # measuring is the dry run: nothing deleted

        removed = [n async for n in bus.prune(cutoff, batch=2)]
        assert removed == [2, 1]
        assert await bus.count() == 2
        assert await bus.older_than(cutoff) == (0, 0)
        assert await _poll_ids(bus, "g", 2) == ["e3", "e4"]  # a new group starts at the oldest left
    finally:
        await bus.close()
