"""Dead letters: what the worker writes, and `scanbridge dlq list | show | retry` on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from bus.base import Bus
from bus.deadletter import DEAD_LETTERED, DeadLetter, Entry, make_dead_letter
from bus.replay import scan
from schemas.envelope import Envelope
from schemas.settings import BusSettings
from schemas.topics import Topics
from tests.cli import invoke

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


def test_a_retried_event_that_fails_again_is_linked_to_its_first_dead_letter() -> None:
    first = _letter(_original(1), "events")
    again = DeadLetter.model_validate(first.json_data()).for_retry()
    second = _letter(again, "events")
    letter = DeadLetter.model_validate(second.json_data())
    assert letter.first == first.id and second.id != first.id
    assert Entry(second, letter).label == f"{first.id[:8]}/1"
    assert Entry(first, DeadLetter.model_validate(first.json_data())).label == first.id[:8]
    assert DeadLetter.model_validate(first.json_data()).first is None


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


LONG_REASON = ("3 of 3 artifacts of meditlink order 1234567 failed: scan_data 6f1c2d3e-aaaa-bbbb-"
               "cccc-0123456789ab: meditlink scan_data: gave up after 2 attempts; last: ServerError: 503")


def _medit(n: int, **extensions: str) -> Envelope:
    return Envelope(id=f"m{n}", source="scanbridge/meditlink/group-1", type="scan.notified", subject=f"o{n}",
                    partitionkey=f"meditlink:group-1:o{n}", time=AT, data={"n": n}, extensions=extensions)


async def test_dlq_list_fits_80_columns_and_links_a_retry_that_failed_again(
    bus: Bus, bus_settings: BusSettings, topics: Topics, tmp_path: Path
) -> None:
    first = make_dead_letter(_medit(1), topics.events, LONG_REASON, [(AT, "503"), (AT, "503")])
    await bus.publish(topics.deadletter, first)
    await bus.publish(topics.deadletter, _letter(_original(2), topics.events))
    retried = await invoke(["dlq", "retry", first.id[:8]], bus_settings, tmp_path)  # a listed short id
    assert retried.exit_code == 0, retried.output
    again = DeadLetter.model_validate(first.json_data()).for_retry()
    await bus.publish(topics.deadletter,
                      make_dead_letter(again, topics.events, LONG_REASON, [(AT, "503")] * 2))

    listed = await invoke(["dlq", "list"], bus_settings, tmp_path, {"COLUMNS": "80"})

    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0] == "3 dead letters, 2 not retried"
    rows = lines[2:]
    assert len(rows) == 3  # one line each, nothing wrapped
    assert rows[0].startswith(f"{first.id[:8]} ") and rows[1].startswith(f"{first.id[:8]}/1 ")
    assert all(" 2 " in row for row in rows)  # tries: both letters list 2 attempts
    shown = await invoke(["dlq", "show", f"{first.id[:8]}/1"], bus_settings, tmp_path)
    assert json.loads(shown.stdout)["first"] == first.id


async def test_dlq_list_as_json_with_filters(
    bus: Bus, bus_settings: BusSettings, topics: Topics, tmp_path: Path
) -> None:
    await bus.publish(topics.deadletter,
                      make_dead_letter(_medit(1), topics.events, LONG_REASON, [(AT, "503")]))
    await bus.publish(topics.deadletter, _letter(_original(2), topics.events))

    async def listed(*filters: str) -> list[dict[str, object]]:
        result = await invoke(["dlq", "list", "--json", *filters], bus_settings, tmp_path)
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.stdout.splitlines()]

    everything = await listed()
    assert [row["original_id"] for row in everything] == ["m1", "e2"]
    assert everything[0]["vendor"] == "meditlink" and everything[0]["attempts"] == 1
    assert [r["original_id"] for r in await listed("--vendor", "itero")] == ["e2"]
    assert [r["original_id"] for r in await listed("--reason", "NOT READY")] == ["e2"]
    recent = await listed("--type", "scan.notified", "--since", "1d")
    assert [r["original_id"] for r in recent] == ["m1", "e2"]
    assert await listed("--type", "order.updated") == []
    assert await listed("--since", "2999-01-01T00:00") == []
