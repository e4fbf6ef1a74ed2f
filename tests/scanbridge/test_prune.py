"""`scanbridge prune [--dry-run]` on the folder store, the markers, orders index and audit log in the state
store (SQLite and PostgreSQL) and the embedded bus log: the dry run lists counts and bytes per kind and
deletes nothing; the run deletes exactly that, with a progress bar (issue 13 #5, issue 17)."""

from __future__ import annotations

import io
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from rich.console import Console

from bus.local import LocalBus
from scanbridge.commands.prune import run
from schemas.settings import BusSettings, RetentionSettings, Settings, StateSettings, StorageSettings
from state.base import AuditRecord, IndexedEvent, Marker, MarkerKey, OrderKey
from state.factory import make_state_store
from tests.bus.test_local import TOPIC, _event

OLD = (datetime.now(UTC) - timedelta(days=40)).timestamp()


async def _world(tmp_path: Path) -> Settings:
    root = tmp_path / "artifacts"
    for name, size in (("old.zip", 1000), ("new.zip", 500)):
        path = root / "itero" / "42" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    os.utime(root / "itero" / "42" / "old.zip", (OLD, OLD))
    settings = Settings(bus=BusSettings(backend="local", local_path=tmp_path / "bus.sqlite3"),
                        storage=StorageSettings(root=root), state_dir=tmp_path / "state",
                        retention=RetentionSettings(artifacts_days=30, markers_days=30, bus_log_days=7))
    state = make_state_store(settings.state)
    await state.start()
    for name in ("old.zip", "new.zip"):
        await state.markers.put_if_absent(Marker(MarkerKey("itero", "42", "rx", "v1", f"scan_3d/{name}"), {}))
    async with state.db.transaction() as tx:
        await tx.execute("UPDATE markers SET created_ms = ? WHERE file = ?", int(OLD * 1000),
                         "scan_3d/old.zip")
    await state.close()
    bus = LocalBus(tmp_path / "bus.sqlite3")
    await bus.ensure_topics([TOPIC])
    await bus.start()
    for n in range(4):
        await bus.publish(TOPIC, _event(n))
    await bus.close()
    with sqlite3.connect(tmp_path / "bus.sqlite3") as conn:
        conn.execute("UPDATE records SET ts_ms = ? WHERE pos < 3", (int(OLD * 1000),))
    return settings


async def _markers(settings: Settings) -> list[str]:
    state = make_state_store(settings.state)
    await state.start()
    try:
        async with state.db.transaction(write=False) as tx:
            return sorted(str(row[0]) for row in await tx.fetch("SELECT file FROM markers"))
    finally:
        await state.close()


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=120, force_terminal=True, color_system=None), out


async def test_a_dry_run_lists_counts_and_bytes_per_kind_and_deletes_nothing(tmp_path: Path) -> None:
    settings = await _world(tmp_path)
    console, out = _console()
    plan = await run(settings, True, console)
    totals = plan.totals()
    assert totals["artifacts"] == (1, 1000) and totals["markers"] == (1, 2) and totals["bus log"][0] == 3
    text = out.getvalue()
    assert "would be deleted (dry run)" in text and "1,000" in text and "30 days" in text
    assert (settings.storage.root / "itero" / "42" / "old.zip").exists()
    assert await _markers(settings) == ["scan_3d/new.zip", "scan_3d/old.zip"]
    with sqlite3.connect(tmp_path / "bus.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 4


async def test_prune_deletes_what_is_past_its_retention_with_a_progress_bar(tmp_path: Path) -> None:
    settings = await _world(tmp_path)
    console, out = _console()
    await run(settings, False, console)
    folder = settings.storage.root / "itero" / "42"
    assert sorted(p.name for p in folder.iterdir()) == ["new.zip"]
    assert await _markers(settings) == ["scan_3d/new.zip"]
    with sqlite3.connect(tmp_path / "bus.sqlite3") as conn:
        assert conn.execute("SELECT pos FROM records").fetchall() == [(3,)]
    assert "pruning" in out.getvalue() and "5/5" in out.getvalue()  # 1 artifact, 1 marker, 3 records
    again = await run(settings, True, _console()[0])
    assert again.count == 0


async def test_without_a_retention_nothing_is_planned(tmp_path: Path) -> None:
    settings = (await _world(tmp_path)).model_copy(update={"retention": RetentionSettings()})
    assert (await run(settings, False, _console()[0])).count == 0
    assert (settings.storage.root / "itero" / "42" / "old.zip").exists()


@pytest.fixture(params=["sqlite", "postgres"])
def console_world(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings whose state store (SQLite or PostgreSQL) holds the console's orders index and audit log."""
    state = StateSettings(backend="sqlite", path=tmp_path / "state.sqlite3")
    if request.param == "postgres":
        (tmp_path / "state.key").write_text(Fernet.generate_key().decode())
        dsn = SecretStr(request.getfixturevalue("postgres_schema_dsn"))
        state = StateSettings(backend="postgres", dsn=dsn, credentials_key_file=tmp_path / "state.key")
    return Settings(bus=BusSettings(backend="local", local_path=tmp_path / "bus.sqlite3"),
                    storage=StorageSettings(root=tmp_path / "artifacts"), state=state,
                    retention=RetentionSettings(orders_index_days=30, audit_days=90))


async def test_prune_forgets_old_orders_of_the_index_and_old_audit_records(console_world: Settings) -> None:
    old, recent = datetime.now(UTC) - timedelta(days=40), datetime.now(UTC) - timedelta(days=1)
    stale, live = OrderKey("itero", "42", "rx-old"), OrderKey("itero", "42", "rx-new")
    state = make_state_store(console_world.state)
    await state.start()
    try:
        await state.orders.record([IndexedEvent(stale, "e1", "scan.notified", old - timedelta(days=1)),
                                   IndexedEvent(stale, "e2", "order.updated", old),
                                   IndexedEvent(live, "e3", "scan.notified", old),  # older event, newer last
                                   IndexedEvent(live, "e4", "order.updated", recent)])
        for actor in ("ann", "bob", "cy"):
            await state.audit.record(AuditRecord(actor, "sign_in", "-"))
        async with state.db.transaction() as tx:  # ann and bob signed in 100 days ago
            await tx.execute("UPDATE audit_log SET at_ms = at_ms - ? WHERE actor <> ?", 100 * 86_400_000,
                             "cy")

        console, out = _console()
        plan = await run(console_world, True, console)
        assert plan.totals()["orders index"][0] == 1 and plan.totals()["audit log"][0] == 2
        assert "orders index" in out.getvalue() and "90 days" in out.getvalue()
        assert await state.orders.get(stale) is not None and len(await state.audit.recent()) == 3

        await run(console_world, False, _console()[0])
        assert await state.orders.get(stale) is None and await state.orders.timeline(stale) == []
        assert [e.event_id for e in await state.orders.timeline(live)] == ["e3", "e4"]
        assert [r.actor for r in await state.audit.recent()] == ["cy"]
        assert (await run(console_world, True, _console()[0])).count == 0
    finally:
        await state.close()
