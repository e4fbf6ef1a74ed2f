"""A second connection to the embedded log (or the SQLite state store) in the same process must not drop
the first one's SQLite locks: closing any descriptor of a file drops every POSIX lock the process holds on
it, and then another process closing its connection believes it is the last one and deletes the WAL under
us (seen as "database disk image is malformed" with receiver, worker and deliverer on one log)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bus.local import LocalBus
from schemas.envelope import Envelope


def _other_process_writes_and_closes(path: Path, sql: str) -> None:
    code = (f"import sqlite3; c = sqlite3.connect({str(path)!r}, timeout=30); c.execute({sql!r}); "
            "c.commit(); c.close()")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_a_second_log_connection_in_one_process_keeps_the_wal_of_the_first(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite3"
    first, second = LocalBus(path), LocalBus(path)
    await first.ensure_topics(["t1"])
    event = Envelope(id="e1", source="s", type="t", partitionkey="k", data={})
    await first.publish("t1", event)  # the first connection is open (WAL mode)
    await second.publish("t1", event.model_copy(update={"id": "e2"}))  # a second one opens beside it
    _other_process_writes_and_closes(path, "CREATE TABLE probe (a)")
    assert path.with_name("bus.sqlite3-wal").exists()  # not deleted under the open connections
    await first.publish("t1", event.model_copy(update={"id": "e3"}))
    await first.close()
    await second.close()

