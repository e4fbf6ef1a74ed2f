"""3Shape poller against the Dental Desktop simulator over HTTPS and a real Kafka broker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest

from consumers.health import label
from schemas.envelope import Envelope
from schemas.topics import ORDER_UPDATED, SCAN_NOTIFIED
from simulators.threeshape import Faults, make_authority
from simulators.threeshape import payloads as sim_payloads
from simulators.threeshape.state import SurfaceScan
from state.base import ConnectionKey
from state.errors import StateUnavailable
from tests.events import collect, of_type, read_to_end
from tests.threeshape.conftest import Asgi, Server, ServerFactory, Stack


async def _orders(stack: Stack, count: int) -> list[dict[str, Any]]:
    events = await collect(stack.bus, [stack.topics.events],
                           lambda ev: len(of_type(ev, ORDER_UPDATED)) >= count)
    return [e.json_data() for e in of_type(events, ORDER_UPDATED)]


async def test_a_new_case_of_a_watched_patient_is_announced_once(stack: Stack, server: Server) -> None:
    case = server.state.create_case("123", "John Smith")
    poller = stack.poller()
    first = await poller.poll_once()
    assert (first.polled, first.orders, first.images) == (1, 1, 0)
    (order,) = await _orders(stack, 1)
    assert order["vendor"] == "3shape" and order["account"] == "clinic-1"
    assert order["order_id"] == case.case_id and order["stage"] == "pending"
    assert order["vendor_status"] == "Created" and order["patient"]["vendor_patient_id"] == "123"
    again = await poller.poll_once(every_patient=True)
    assert (again.polled, again.orders, again.images) == (1, 0, 0)
    assert label(await stack.shared.health.read(ConnectionKey("3shape", "clinic-1"))) == "ok"


async def test_a_case_scanned_then_modelled_is_announced_at_each_stage(stack: Stack, server: Server) -> None:
    case = server.state.create_case("123")
    poller = stack.poller()
    await poller.poll_once()
    server.state.scan(case.case_id)
    assert (await poller.poll_once(every_patient=True)).orders == 1
    server.state.model(case.case_id)
    assert (await poller.poll_once(every_patient=True)).orders == 1
    orders = await _orders(stack, 3)
    assert [o["vendor_status"] for o in orders] == ["Created", "Scanned", "Modelled"]
    assert [o["previous_vendor_status"] for o in orders] == [None, "Created", "Scanned"]
    assert len({o["version"] for o in orders}) == 3
    assert {s["vendor_ref"] for s in orders[1]["artifacts"]} == set()  # scans are not downloadable here


async def test_a_rescan_moves_the_version_on(stack: Stack, server: Server) -> None:
    case = server.state.create_case("123")
    server.state.scan(case.case_id, SurfaceScan(1, 16))
    poller = stack.poller()
    await poller.poll_once()
    server.state.rescan(case.case_id, case.surface_scans[0].id)
    assert (await poller.poll_once(every_patient=True)).orders == 1


async def test_a_new_image_is_notified_once_per_image_version(stack: Stack, server: Server) -> None:
    case = server.state.create_case("123")
    poller = stack.poller()
    await poller.poll_once()
    image = server.state.attach_image(case.case_id)
    result = await poller.poll_once(every_patient=True)
    assert (result.orders, result.images) == (1, 1)
    assert (await poller.poll_once(every_patient=True)).images == 0
    events = await collect(stack.bus, [stack.topics.events], lambda ev: len(of_type(ev, SCAN_NOTIFIED)) >= 1)
    (notified,) = of_type(events, SCAN_NOTIFIED)
    data = notified.json_data()
    assert data["case_id"] == case.case_id and data["file_id"] == image.id and data["learned_by"] == "poll"
    assert data["version"] == of_type(events, ORDER_UPDATED)[-1].json_data()["version"]
    assert notified.partitionkey == f"3shape:clinic-1:{case.case_id}"


async def test_a_wrong_thumbprint_is_refused_before_credentials_and_other_servers_go_on(
    make_stack: Callable[..., Stack], dental_desktop: ServerFactory
) -> None:
    async with dental_desktop() as impostor, dental_desktop() as good:
        impostor.state.create_case("123")
        good.state.create_case("123")
        stack = make_stack(impostor.connection("pinned-elsewhere", ca_thumbprint=make_authority().thumbprint),
                           good.connection("clinic-ok"))
        refused = await stack.poller(0).poll_once()
        served = await stack.poller(1).poll_once()
        assert refused.connection_error is not None and "UntrustedServer" in refused.connection_error
        assert refused.orders == 0 and served.orders == 1
        assert impostor.state.requests == []  # the pin failed during the handshake: no HTTP request at all
        now = await stack.shared.health.read(ConnectionKey("3shape", "pinned-elsewhere"))
        assert now.failing_since is not None and "UntrustedServer" in (now.last_error or "")
        assert label(await stack.shared.health.read(ConnectionKey("3shape", "clinic-ok"))) == "ok"
        orders = await _orders(stack, 1)
        assert {o["account"] for o in orders} == {"clinic-ok"}
        await stack.close()


async def test_a_wrong_password_reports_the_connection_failing_and_publishes_nothing(
    make_stack: Callable[..., Stack], dental_desktop: ServerFactory
) -> None:
    async with dental_desktop() as refusing, dental_desktop() as good:
        refusing.state.create_case("123")
        good.state.create_case("123")
        stack = make_stack(refusing.connection("bad-password", password="wrong", patients=["123", "456"]),
                           good.connection("clinic-ok"))
        poller = stack.poller(0)
        refused = await poller.poll_once()
        assert refused.connection_error is not None and "Unauthorized" in refused.connection_error
        assert refused.polled == 0 and refused.orders == 0
        assert all(not r.authorized for r in refusing.state.requests)
        now = await stack.shared.health.read(ConnectionKey("3shape", "bad-password"))
        assert now.failing_since is not None and "Unauthorized" in (now.last_error or "")
        asked, connection = len(refusing.state.requests), stack.settings.threeshape[0]
        await stack.clock.advance(connection.poll_interval_s)
        assert (await poller.poll_once()).due == 2
        assert len(refusing.state.requests) == asked  # refused credentials are not sent at every round
        await stack.clock.advance(connection.idle_poll_interval_s)
        assert (await poller.poll_once()).connection_error is not None
        assert (await stack.poller(1).poll_once()).orders == 1
        assert {o["account"] for o in await _orders(stack, 1)} == {"clinic-ok"}
        await stack.close()


def _hostile_for(integration_id: str, body: str) -> Callable[[Asgi], Asgi]:
    """Wrap the simulator: GetCasesForPatient of one patient answers `body` (200, XML)."""

    def wrap(app: Asgi) -> Asgi:
        async def hostile(scope: dict[str, Any], receive: Any, send: Any) -> None:
            query = parse_qs(scope.get("query_string", b"").decode())
            if scope["type"] == "http" and query.get("IntegrationId") == [integration_id]:
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/xml")]})
                await send({"type": "http.response.body", "body": body.encode()})
                return
            await app(scope, receive, send)

        return hostile

    return wrap


async def test_malformed_xml_for_one_patient_is_counted_and_the_other_patients_go_on(
    make_stack: Callable[..., Stack], dental_desktop: ServerFactory
) -> None:
    truncated = sim_payloads.malformed(sim_payloads.case_list([]))
    async with dental_desktop(wrap=_hostile_for("bad", truncated)) as server:
        server.state.create_case("123")
        stack = make_stack(server.connection("clinic-1", patients=["bad", "123"]))
        poller = stack.poller()
        result = await poller.poll_once()
        assert (result.polled, result.failed, result.orders) == (1, 1, 1)
        assert dict(result.errors) == {"MalformedXml": 1}
        assert poller.counters["invalid_responses"] == 1 and poller.health[0] == "ok"
        await stack.close()


async def test_a_utf7_declaration_for_one_patient_is_malformed_xml_and_the_other_patients_go_on(
    make_stack: Callable[..., Stack], dental_desktop: ServerFactory
) -> None:
    """Before: the ValueError of the UTF-7 declaration escaped the per-patient handler and ended the
    whole round, so the good patient's case was not announced (issue 10 item 13)."""
    utf7 = sim_payloads.declared_encoding(sim_payloads.case_list([]), "UTF-7")
    async with dental_desktop(wrap=_hostile_for("bad", utf7)) as server:
        server.state.create_case("123")
        stack = make_stack(server.connection("clinic-1", patients=["bad", "123"]))
        poller = stack.poller()
        result = await poller.poll_once()
        assert (result.polled, result.failed, result.orders) == (1, 1, 1)
        assert dict(result.errors) == {"MalformedXml": 1}
        assert poller.counters["invalid_responses"] == 1 and poller.health[0] == "ok"
        await stack.close()


async def test_a_server_declaring_a_garbage_encoding_fails_alone_and_other_servers_go_on(
    make_stack: Callable[..., Stack], dental_desktop: ServerFactory
) -> None:
    async with dental_desktop() as hostile, dental_desktop() as good:
        for server in (hostile, good):
            server.state.create_case("123")
        hostile.state.faults = Faults(methods=frozenset({"getcasesforpatient"}), declared_encoding="garbage")
        stack = make_stack(hostile.connection("hostile"), good.connection("good"))
        results = [await stack.poller(i).poll_once() for i in range(2)]
        assert dict(results[0].errors) == {"MalformedXml": 1} and results[0].orders == 0
        assert results[1].orders == 1
        assert [o["account"] for o in await _orders(stack, 1)] == ["good"]
        await stack.close()


async def test_an_entity_expansion_payload_is_refused_and_other_patients_and_servers_go_on(
    make_stack: Callable[..., Stack], dental_desktop: ServerFactory
) -> None:
    async with (dental_desktop(wrap=_hostile_for("bad", sim_payloads.billion_laughs())) as mixed,
                dental_desktop() as hostile, dental_desktop() as good):
        for server in (mixed, hostile, good):
            server.state.create_case("123")
        hostile.state.faults = Faults(entity_expansion=True)
        stack = make_stack(mixed.connection("mixed", patients=["bad", "123"]), hostile.connection("hostile"),
                           good.connection("good"))
        results = [await stack.poller(i).poll_once() for i in range(3)]
        assert dict(results[0].errors) == {"UnsafeXml": 1} and results[0].orders == 1
        assert dict(results[1].errors) == {"UnsafeXml": 1} and results[1].orders == 0
        assert results[2].orders == 1
        orders = await _orders(stack, 2)
        assert sorted(o["account"] for o in orders) == ["good", "mixed"]
        await stack.close()


class Killed(Exception):
    """The poller's process ends here: nothing after this point runs."""


@pytest.mark.parametrize("fault", ["poll state not saved", "killed after the send"])
async def test_a_case_announced_by_a_round_that_failed_is_announced_once_over_the_re_poll(
    stack: Stack, server: Server, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    """Before: the re-poll found the case's old version in the poll state and sent its order.updated again
    (the same event id twice on the topic). Now the marker (poll state lost) or the intent found on the topic
    (killed between the bus's acknowledgement and the marker) says it was announced."""
    case = server.state.create_case("123")
    await stack.poller().poll_once()
    server.state.scan(case.case_id)  # a new version of the case
    failing = stack.poller()
    if fault == "poll state not saved":
        save = failing.state.save

        async def save_failing_once(*args: Any, **kwargs: Any) -> None:
            monkeypatch.setattr(failing.state, "save", save)
            raise StateUnavailable("the state store did not answer")

        monkeypatch.setattr(failing.state, "save", save_failing_once)
        with pytest.raises(StateUnavailable):
            await failing.poll_once()
        again = failing  # the same poller's next round
    else:
        publish = stack.bus.publish

        async def publish_then_die(topic: str, event: Envelope) -> None:
            await publish(topic, event)
            if event.type == ORDER_UPDATED:
                monkeypatch.setattr(stack.bus, "publish", publish)
                raise Killed

        monkeypatch.setattr(stack.bus, "publish", publish_then_die)
        with pytest.raises(Killed):
            await failing.poll_once()
        again = stack.poller()  # another process, from what the state store holds
    repolled = await again.poll_once(every_patient=True)
    assert (repolled.polled, repolled.orders) == (1, 0)
    assert (await again.poll_once(every_patient=True)).orders == 0
    orders = of_type(await read_to_end(stack.bus, [stack.topics.events]), ORDER_UPDATED)
    assert len(orders) == len({o.id for o in orders}) == 2
    assert [o.json_data()["vendor_status"] for o in orders] == ["Created", "Scanned"]
    assert orders[1].json_data()["previous_vendor_status"] == "Created"
