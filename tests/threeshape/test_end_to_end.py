"""3Shape end to end: poller → Kafka → worker → clinical photos on disk; watch commands; restarts; cadence."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from pathlib import Path

from consumers.context import WorkContext
from consumers.http import new_client
from consumers.privacy import Privacy
from consumers.publish import Publisher
from consumers.storage import FolderStore
from consumers.threeshape.commands import WatchCommands, build_runners, watch_command
from consumers.threeshape.handler import ThreeShapeHandler
from consumers.threeshape.poller import build_poller
from schemas.envelope import Envelope
from schemas.events import ScanNotified
from schemas.topics import ARTIFACT_FAILED, ARTIFACT_STORED, ORDER_UPDATED, SCAN_NOTIFIED
from simulators.threeshape import Faults
from simulators.threeshape.images import png
from tests.events import collect, of_type
from tests.shared import runtime_of, shared_state
from tests.threeshape.conftest import Server, ServerFactory, Stack, eventually, running_worker


def _stored(events: list[Envelope]) -> list[Envelope]:
    return of_type(events, ARTIFACT_STORED)


async def test_a_new_image_is_fetched_and_stored_once_as_a_clinical_photo(
    stack: Stack, server: Server
) -> None:
    case = server.state.create_case("123")
    jpeg = server.state.attach_image(case.case_id)
    photo = server.state.attach_image(case.case_id, data=png(seed=3), name="intraoral.png")
    poller = stack.poller()
    async with running_worker(stack):
        assert (await poller.poll_once()).images == 2
        events = await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(_stored(ev)) >= 2)
        assert (await poller.poll_once(every_patient=True)).images == 0
    stored = {e.json_data()["order"]["order_id"] + "/" + e.json_data()["file_name"]: e.json_data()
              for e in _stored(events)}
    by_type = {a["media_type"]: a for a in stored.values()}
    assert set(by_type) == {"image/jpeg", "image/png"}
    for artifact, image in ((by_type["image/jpeg"], jpeg), (by_type["image/png"], photo)):
        assert artifact["kind"] == "clinical_photo" and artifact["source_host"] == "127.0.0.1"
        path = Path(stack.settings.storage.root) / artifact["relative_path"]
        assert path.read_bytes() == image.data
        assert artifact["sha256"] == hashlib.sha256(image.data).hexdigest()
        assert artifact["file_name"].startswith(image.id)


async def test_a_redelivered_image_notification_fetches_and_announces_nothing_twice(
    stack: Stack, server: Server
) -> None:
    case = server.state.create_case("123")
    server.state.attach_image(case.case_id)
    await stack.poller().poll_once()
    events = await collect(stack.bus, [stack.topics.events], lambda ev: len(of_type(ev, SCAN_NOTIFIED)) >= 1)
    notified = ScanNotified.model_validate(of_type(events, SCAN_NOTIFIED)[0].json_data())
    handler = ThreeShapeHandler(stack.settings)
    async with new_client(10.0) as http:
        ctx = WorkContext(settings=stack.settings, publisher=Publisher(stack.bus, stack.topics),
                          store=FolderStore(stack.settings.storage.root), clock=stack.clock, http=http,
                          shared=stack.shared)
        try:
            await handler.handle(notified, ctx)
            fetched = [r for r in server.state.requests if r.method == "getattachedimage"]
            await handler.handle(notified, ctx)  # at-least-once: the same event again
        finally:
            await handler.close()
    assert len(fetched) == 1
    assert [r for r in server.state.requests if r.method == "getattachedimage"] == fetched
    stored = await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(ev) >= 1)
    assert len(_stored(stored)) == 1


async def test_a_patient_watched_through_the_command_topic_is_polled(stack: Stack, server: Server) -> None:
    case = server.state.create_case("789", "Jane Roe")
    poller = stack.poller()
    await stack.catalogued()
    listener = WatchCommands(stack.bus, stack.shared, Privacy("drop"), commands_topic=stack.topics.commands,
                             deadletter_topic=stack.topics.deadletter, group="test-commands")
    stop = asyncio.Event()
    listening = asyncio.create_task(listener.run(stop))
    try:
        await stack.bus.publish(stack.topics.commands, watch_command("clinic-1", "watch", ["789"]))
        await stack.bus.publish(stack.topics.commands, watch_command("no-such-server", "watch", ["1"]))
        await eventually(lambda: listener.counters["invalid"] == 1 and listener.counters["applied"] == 1)
    finally:
        stop.set()
        await listening
    assert await poller.watchlist.ids() == ["123", "789"]
    assert stack.shared.wakeups == {poller.key}  # this process's runtime polls it at its next tick
    result = await poller.poll_once()
    assert result.orders == 1
    events = await collect(stack.bus, [stack.topics.events, stack.topics.deadletter],
                           lambda ev: len(ev) >= 2)
    (order,) = of_type(events, ORDER_UPDATED)
    assert order.json_data()["order_id"] == case.case_id
    (letter,) = [e for e in events if e.type != ORDER_UPDATED]
    assert "no-such-server" in letter.json_data()["reason"]


async def test_an_unwatched_patient_is_no_longer_polled(stack: Stack, server: Server) -> None:
    poller = stack.poller()
    await poller.watchlist.unwatch(["123"])
    assert (await poller.poll_once()).due == 0
    assert await poller.watchlist.watch(["123"]) == ["123"]
    assert (await poller.poll_once()).polled == 1


async def test_a_restarted_poller_announces_nothing_again(stack: Stack, server: Server) -> None:
    case = server.state.create_case("123")
    server.state.scan(case.case_id)
    server.state.attach_image(case.case_id)
    first = await stack.poller().poll_once()
    assert (first.orders, first.images) == (1, 1)
    restarted = await stack.poller().poll_once()
    assert (restarted.polled, restarted.orders, restarted.images) == (1, 0, 0)
    server.state.model(case.case_id)
    assert (await stack.poller().poll_once()).orders == 1


async def test_a_patient_without_changes_is_polled_less_often(
    server: Server, make_stack: Callable[..., Stack]
) -> None:
    stack = make_stack(server.connection("clinic-1", patients=["123", "456"], poll_interval_s=60,
                                         idle_poll_interval_s=600, idle_after_s=3600))
    poller = stack.poller()
    assert (await poller.poll_once()).polled == 2
    await stack.clock.advance(3601)
    case = server.state.create_case("456")  # only 456 is active
    assert (await poller.poll_once()).polled == 2  # both were due; both now judged afresh
    assert poller.is_idle("123") and not poller.is_idle("456")
    await stack.clock.advance(60)
    assert (await poller.poll_once()).polled == 1  # 456 only
    await stack.clock.advance(540)
    assert (await poller.poll_once()).polled == 2  # 123's slower turn came
    server.state.attach_image(case.case_id)
    assert (await poller.poll_once(every_patient=True)).images == 1


async def test_a_slow_server_never_delays_another(
    make_stack: Callable[..., Stack], dental_desktop: ServerFactory
) -> None:
    async with dental_desktop() as slow, dental_desktop() as fast:
        slow.state.create_case("123")
        fast.state.create_case("123")
        slow.state.faults = Faults(delay_s=30.0, methods=frozenset({"getcasesforpatient"}))
        stack = make_stack(slow.connection("slow"), fast.connection("fast"))
        async with shared_state(stack.settings) as shared:  # its catalog holds both servers
            pollers = [build_poller(stack.settings, stack.bus, stack.clock, shared, c)
                       for c in stack.settings.threeshape]
            runners = build_runners(stack.settings, stack.bus, stack.clock, shared)
            assert [type(r).__name__ for r in runners] == ["WatchCommands"]
            runtime = runtime_of(shared, *(p for p in pollers if p is not None))
            stop = asyncio.Event()
            tasks = [asyncio.create_task(r.run(stop)) for r in [runtime, *runners]]
            try:
                events = await collect(stack.bus, [stack.topics.events],
                                       lambda ev: len(of_type(ev, ORDER_UPDATED)) >= 1)
                assert {e.json_data()["account"] for e in of_type(events, ORDER_UPDATED)} == {"fast"}
                await eventually(lambda: any(r.method == "getcasesforpatient" for r in slow.state.requests))
            finally:
                stop.set()
                await asyncio.gather(*tasks)  # a stop cancels the round still waiting on the slow server
                await stack.close()
        slow_poller, = (p for p in pollers if p is not None and p.connection.id == "slow")
        assert slow_poller.counters["patients_polled"] == 0


async def test_bytes_that_are_not_an_image_are_announced_as_failed_and_not_stored(
    stack: Stack, server: Server
) -> None:
    case = server.state.create_case("123")
    server.state.attach_image(case.case_id, data=b"MZ\x90\x00 not a photo", name="photo.jpeg")
    poller = stack.poller()
    async with running_worker(stack):
        assert (await poller.poll_once()).images == 1
        events = await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(ev) >= 1)
    (failed,) = of_type(events, ARTIFACT_FAILED)
    assert failed.json_data()["kind"] == "clinical_photo"
    assert "not a known image format" in failed.json_data()["reason"]
    assert _files(stack) == []


def _files(stack: Stack) -> list[Path]:
    return [p for p in Path(stack.settings.storage.root).rglob("*") if p.is_file()]


async def test_a_watch_file_of_an_earlier_version_is_imported_once(stack: Stack, server: Server) -> None:
    legacy = stack.settings.state_dir / "threeshape" / "clinic-1.watch.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_text('{"added": ["789"], "removed": ["123"]}')
    server.state.create_case("789")
    poller = stack.poller()
    assert (await poller.poll_once()).orders == 1  # 789 polled, 123 (configured, then removed) not
    assert await poller.watchlist.ids() == ["789"] and not legacy.exists()
    assert legacy.with_name("clinic-1.watch.json.imported").exists()
