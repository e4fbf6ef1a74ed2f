"""`scanbridge tail` on both backends: every topic at once, a timeout that holds, missing topics named and
not created, inbound bodies that are not UTF-8 shown safely."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from bus.base import Bus
from schemas.envelope import Envelope
from schemas.settings import BusSettings
from schemas.topics import Topics
from tests.cli import invoke

NOT_UTF8 = b'{"orderNumber": "7", "note": "\xff\xfe caf\xe9"}'


def _event(n: int, data: dict[str, object] | bytes, type_: str = "scan.notified") -> Envelope:
    return Envelope(id=f"e{n}", source="scanbridge/itero/a1", type=type_, subject=f"rx{n}",
                    partitionkey=f"itero:a1:rx{n}", data=data)


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


async def test_tail_all_reads_every_topic(bus: Bus, bus_settings: BusSettings, topics: Topics,
                                          tmp_path: Path) -> None:
    await bus.publish(topics.events, _event(1, {"n": 1}))
    await bus.publish(topics.artifacts, _event(2, {"n": 2}, "artifact.stored"))
    result = await invoke(["tail", "all", "--count", "2", "--timeout", "30"], bus_settings, tmp_path)
    assert result.exit_code == 0, result.output
    assert sorted(str(e["id"]) for e in _lines(result.output)) == ["e1", "e2"]


async def test_the_timeout_ends_a_tail_that_waits_for_more(
    bus: Bus, bus_settings: BusSettings, topics: Topics, tmp_path: Path
) -> None:
    await bus.publish(topics.events, _event(1, {"n": 1}))
    result = await invoke(["tail", "events", "--count", "3", "--timeout", "5"], bus_settings, tmp_path)
    assert result.exit_code == 1
    shown = [e["id"] for e in _lines(result.output)]
    assert shown in (["e1"], [])  # [] only if joining the group took longer than the timeout
    assert f"{len(shown)} of 3 events within 5 s" in result.output
    assert "Traceback" not in result.output
    following = await invoke(["tail", "events", "--timeout", "1"], bus_settings, tmp_path)
    assert following.exit_code == 0, following.output  # follow mode: the timeout is the planned end


async def test_a_missing_topic_is_named_at_once_and_not_created(
    bus_settings: BusSettings, tmp_path: Path
) -> None:
    absent = f"{bus_settings.topics.events}.nobody-published-here"
    result = await invoke(["tail", absent, "--timeout", "60"], bus_settings, tmp_path)
    assert result.exit_code == 1
    assert f"no topic {absent}" in result.output and "Traceback" not in result.output
    assert await _missing(bus_settings, [absent]) == [absent]


async def test_an_inbound_body_that_is_not_utf8_is_shown_as_base64(bus: Bus, bus_settings: BusSettings,
                                                                   topics: Topics, tmp_path: Path) -> None:
    await bus.publish(topics.inbound, _event(1, NOT_UTF8, "inbound.received"))
    await bus.publish(topics.inbound, _event(2, b'{"ok": "caf\xc3\xa9"}', "inbound.received"))
    shown = await invoke(["tail", "inbound", "--count", "2", "--pii", "--timeout", "30"], bus_settings,
                         tmp_path)
    assert shown.exit_code == 0, shown.output
    first, second = _lines(shown.output)
    assert base64.b64decode(str(first["data_base64"])) == NOT_UTF8
    assert second["data"] == '{"ok": "café"}'
    hidden = await invoke(["tail", "inbound", "--count", "2", "--timeout", "30"], bus_settings, tmp_path)
    assert hidden.exit_code == 0, hidden.output
    assert all("hidden: --pii" in str(e["data"]) and "data_base64" not in e for e in _lines(hidden.output))


async def test_patient_fields_are_hidden_inside_dead_letters_too(bus: Bus, bus_settings: BusSettings,
                                                                 topics: Topics, tmp_path: Path) -> None:
    letter = {"original": {"data": {"patient": {"name": "Ada"}, "rx_id": "rx1"}, "data_base64": None},
              "reason": "gone"}
    await bus.publish(topics.deadletter, _event(1, letter, "deadletter.created"))
    result = await invoke(["tail", "deadletter", "--count", "1", "--timeout", "30"], bus_settings, tmp_path)
    assert result.exit_code == 0, result.output
    assert "Ada" not in result.output
    [shown] = _lines(result.output)
    assert shown["data"]["original"]["data"]["rx_id"] == "rx1"  # type: ignore[index]


async def _missing(settings: BusSettings, topics: list[str]) -> list[str]:
    from bus.factory import make_bus

    bus = make_bus(settings)
    try:
        return await bus.missing_topics(topics)
    finally:
        await bus.close()


async def test_read_only_commands_create_no_topic(bus_settings: BusSettings, tmp_path: Path) -> None:
    """On a bus where nothing was published yet: tail, dlq list, replay --dry-run answer, create nothing."""
    names = bus_settings.topics.all()
    commands = [
        ["tail", "events", "--timeout", "5"],
        ["tail", "all", "--timeout", "5"],
        ["dlq", "list"],
        ["replay", "--from", "2026-01-01T00:00", "--dry-run"],
        ["replay", "--from", "2026-01-01T00:00", "--to-topic", f"{names[1]}.copy", "--dry-run"],
        ["replay", "--from", "2026-01-01T00:00", "--group", "g", "--dry-run"],
    ]
    for args in commands:
        result = await invoke(args, bus_settings, tmp_path)
        assert "Traceback" not in result.output, args
        assert result.exit_code == (1 if args[0] == "tail" else 0), (args, result.output)
    assert await _missing(bus_settings, [*names, f"{names[1]}.copy"]) == [*names, f"{names[1]}.copy"]
    if bus_settings.backend == "local":
        assert not bus_settings.local_path.exists()
