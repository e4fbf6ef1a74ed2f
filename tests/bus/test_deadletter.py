"""Dead letters: what the worker writes, and `scanbridge dlq list | show | retry` on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from bus.base import Bus
from bus.deadletter import DEAD_LETTERED, DeadLetter, make_dead_letter
from bus.replay import scan
from schemas.envelope import Envelope
from schemas.settings import BusSettings
from schemas.topics import Topics
from tests.bus.test_replay import invoke

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _original(n: int, **extensions: str) -> Envelope:
    return Envelope(id=f"e{n}", source="scanbridge/itero/a1", type="scan.notified", subject=f"rx{n}",
                    partitionkey=f"itero:a1:rx{n}", time=AT, data={"n": n}, extensions=extensions)


def _letter(original: Envelope, topic: str) -> Envelope:
    return make_dead_letter(original, topic, "order not ready after 30 min",
                            [(AT, "404 not ready"), (AT.replace(minute=30), "404 not ready")])


def test_a_dead_letter_wraps_the_original_and_restores_it_for_a_retry() -> None:
    original = _original(1, traceparent="00-abc")
    letter = _letter(original, "events")
    assert letter.type == DEAD_LETTERED
    assert (letter.partitionkey, letter.source) == (original.partitionkey, original.source)
    wrapped = DeadLetter.model_validate(letter.json_data())
    assert (wrapped.original.topic, wrapped.reason) == ("events", "order not ready after 30 min")
    assert [a.error for a in wrapped.attempts] == ["404 not ready", "404 not ready"]
    again = wrapped.for_retry()
    assert again.extensions == {"traceparent": "00-abc", "dlqretry": "1"}
    assert again.model_copy(update={"extensions": original.extensions}) == original


def test_the_dead_letter_id_is_fixed_per_event_and_retry_round() -> None:
    assert _letter(_original(1), "events").id == _letter(_original(1), "events").id
    assert _letter(_original(1), "events").id != _letter(_original(1, dlqretry="1"), "events").id


def test_raw_inbound_bytes_survive_a_dead_letter() -> None:
    raw = Envelope(id="i1", source="s", type="inbound.received", partitionkey="k", data=b'{"x": 1 }')
    restored = DeadLetter.model_validate(make_dead_letter(raw, "inbound", "bad", []).json_data()).for_retry()
    assert restored.data == b'{"x": 1 }'


async def _events(bus: Bus, topic: str) -> list[Envelope]:
    return [d.event async for d in scan(bus, [topic], datetime(2000, 1, 1, tzinfo=UTC))]


async def test_dlq_list_show_and_retry_put_events_back_once(
    bus: Bus, bus_settings: BusSettings, topics: Topics, tmp_path: Path
) -> None:
    for n in range(3):
        await bus.publish(topics.deadletter, _letter(_original(n), topics.events))

    listed = await invoke(["dlq", "list"], bus_settings, tmp_path)
    assert listed.exit_code == 0, listed.output
    assert "3 dead letters, 3 not retried" in listed.output

    shown = await invoke(["dlq", "show", "e1"], bus_settings, tmp_path)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["original"]["data"] == {"n": 1}

    one = await invoke(["dlq", "retry", "e1"], bus_settings, tmp_path)
    assert one.exit_code == 0, one.output
    rest = await invoke(["dlq", "retry", "--all"], bus_settings, tmp_path)
    assert "2 dead letters retried" in rest.output
    none = await invoke(["dlq", "retry", "--all"], bus_settings, tmp_path)
    assert "0 dead letters retried" in none.output

    back = await _events(bus, topics.events)
    assert sorted(e.id for e in back) == ["e0", "e1", "e2"]
    assert {e.extensions["dlqretry"] for e in back} == {"1"}
    assert back[0].model_copy(update={"extensions": {}}) == _original(int(back[0].id[1:]))


async def test_dlq_show_of_an_unknown_id_fails(bus: Bus, bus_settings: BusSettings, tmp_path: Path) -> None:
    result = await invoke(["dlq", "show", "nope"], bus_settings, tmp_path)
    assert result.exit_code == 1
