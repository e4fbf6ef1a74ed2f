"""Signed HTTP delivery end to end: a real bus, a real state store, endpoints over loopback that verify
each delivery with the `standardwebhooks` library (README "Delivering to HTTP endpoints")."""

from __future__ import annotations

import asyncio

import pytest

from consumers.delivery.address import delivery_client
from consumers.delivery.resend import replay_range, resend_dead_letters
from schemas.topics import SUBSCRIPTION_DISABLED
from state.base import Subscription
from tests.consumers.delivery.conftest import Rig, free_port, serve_on
from tests.consumers.delivery.endpoint import Endpoint
from tests.events import collect, of_type
from tests.servers import serve


async def _failing(rig: Rig, subscription_id: str, rounds: int = 1200) -> Subscription | None:
    """The subscription once the store says it is failing (a bound against hangs, not a timing check)."""
    for _ in range(rounds):
        found = await rig.store.subscriptions.get(subscription_id)
        if found is None or found.failing_since is not None:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("the subscription never failed")


@pytest.mark.parametrize("rig", ["local", "kafka"], indirect=True)
async def test_each_event_is_delivered_once_signed_and_filtered(rig: Rig, endpoint: Endpoint) -> None:
    async with serve(endpoint.app()) as url:
        await rig.subscribe(f"{url}/hook", endpoint.secret, event_types=("order.*", "artifact.stored"),
                            vendors=("itero",))
        async with rig.delivering():
            wanted = [await rig.publish(f"itero:4242:rx{k}", n) for n in range(3) for k in range(2)]
            await rig.publish("itero:4242:rx0", 9, event_type="scan.notified")  # a type not asked for
            await rig.publish("meditlink:g:o1", 9, vendor="meditlink")  # another vendor
            wanted.append(await rig.publish("itero:4242:rx0", 3, event_type="artifact.stored"))
            await endpoint.until(lambda: len(endpoint.accepted) >= len(wanted))
            await rig.publish("itero:4242:rx9", 0)  # a last one: everything before it is through
            await endpoint.until(lambda: len(endpoint.accepted) == len(wanted) + 1)
    assert endpoint.unverified == 0  # every delivery verified by standardwebhooks
    assert sorted(endpoint.ids()[:-1]) == sorted(e.id for e in wanted)
    got = {r.webhook_id: r.event for r in endpoint.accepted}
    first = got[wanted[0].id]
    assert first["type"] == "order.updated" and first["data"] == {"n": 0, "key": "itero:4242:rx0"}
    assert first["specversion"] == "1.0" and first["dataschema"] == "urn:scanbridge:schema:order.updated:v1"
    rx0 = endpoint.by_key()["itero:4242:rx0"]  # per key in order (the events topic's three), and the artifact
    assert [i for i in rx0 if i != wanted[6].id] == [wanted[0].id, wanted[2].id, wanted[4].id]
    assert wanted[6].id in rx0


@pytest.mark.parametrize("rig", ["local", "kafka"], indirect=True)
async def test_order_per_key_is_kept_across_retries(rig: Rig, endpoint: Endpoint) -> None:
    # Each key's first event fails three times (503, then 429 with Retry-After: 0, then a broken answer
    # path: 500); meanwhile its later events wait, other keys go on.
    def answer(event: dict, n: int) -> tuple[int, dict[str, str]]:
        if event["data"]["n"] == 0 and n <= 3:
            return [(503, {}), (429, {"retry-after": "0"}), (500, {})][n - 1]
        return 204, {}

    endpoint.answer = answer
    async with serve(endpoint.app()) as url:
        await rig.subscribe(f"{url}/hook", endpoint.secret)
        async with rig.delivering(max_in_flight=4):
            published = [await rig.publish(f"itero:4242:rx{k}", n) for n in range(5) for k in range(3)]
            await endpoint.until(lambda: len(endpoint.accepted) >= len(published))
    assert sorted(endpoint.ids()) == sorted(e.id for e in published)  # each once
    for k in range(3):
        key = f"itero:4242:rx{k}"
        assert endpoint.by_key()[key] == [e.id for e in published if e.partitionkey == key]
    assert len(endpoint.attempts) == len(published) + 3 * 3  # the failed attempts, nothing else


async def test_an_endpoint_down_for_a_while_receives_everything_in_order_once_back(rig: Rig,
                                                                                  endpoint: Endpoint) -> None:
    port = free_port()
    sub = await rig.subscribe(f"http://127.0.0.1:{port}/hook", endpoint.secret)
    async with rig.delivering(max_in_flight=8):
        published = [await rig.publish(f"itero:4242:rx{k}", n) for n in range(6) for k in range(4)]
        found = await _failing(rig, sub.id)  # nothing listens: the deliverer has seen it fail
        assert found is not None and "unreachable" in (found.last_error or "")
        later = [await rig.publish(f"itero:4242:rx{k}", 6) for k in range(4)]  # more while it is down
        async with serve_on(endpoint.app(), port):
            await endpoint.until(lambda: len(endpoint.accepted) >= len(published) + len(later))
    everything = published + later
    assert sorted(endpoint.ids()) == sorted(e.id for e in everything)
    for k in range(4):
        key = f"itero:4242:rx{k}"
        assert endpoint.by_key()[key] == [e.id for e in everything if e.partitionkey == key]
    found = await rig.store.subscriptions.get(sub.id)
    assert found is not None and found.failing_since is None and found.status == "active"


async def test_a_failing_endpoint_is_disabled_says_so_and_delivers_its_backlog_in_order_once_enabled(
        rig: Rig, endpoint: Endpoint) -> None:
    endpoint.answer = lambda event, n: (500, {})
    async with serve(endpoint.app()) as url:
        sub = await rig.subscribe(f"{url}/hook", endpoint.secret)
        async with rig.delivering(disable_after_s=0.5) as deliverer:
            published = [await rig.publish(f"itero:4242:rx{k}", n) for n in range(3) for k in range(2)]
            events = await collect(rig.bus, [rig.topics.events],
                                   lambda ev: bool(of_type(ev, SUBSCRIPTION_DISABLED)))
            disabled, = of_type(events, SUBSCRIPTION_DISABLED)
            data = disabled.json_data()
            assert data["subscription"] == sub.id and data["endpoint_host"] == "127.0.0.1"
            assert "500" in data["last_error"] and sub.id in data["how"]
            found = await rig.store.subscriptions.get(sub.id)
            assert found is not None and found.status == "disabled"
            await endpoint.until(lambda: sub.id not in deliverer.running)  # it stopped reading
            assert endpoint.accepted == []
            endpoint.answer = lambda event, n: (200, {})  # fixed; then the operator enables it
            more = [await rig.publish(f"itero:4242:rx{k}", 3) for k in range(2)]
            assert await rig.store.subscriptions.enable(sub.id)
            await endpoint.until(lambda: len(endpoint.accepted) >= len(published) + len(more) + 1)
    everything = published + more
    # It asked for every type: it also gets the event saying it had been disabled (after re-enabling).
    assert [r.event["type"] for r in endpoint.accepted].count(SUBSCRIPTION_DISABLED) == 1
    endpoint.accepted = [r for r in endpoint.accepted if r.event["type"] != SUBSCRIPTION_DISABLED]
    assert sorted(endpoint.ids()) == sorted(e.id for e in everything)
    for k in range(2):
        key = f"itero:4242:rx{k}"
        assert endpoint.by_key()[key] == [e.id for e in everything if e.partitionkey == key]


async def test_410_gone_disables_the_subscription_at_once(rig: Rig, endpoint: Endpoint) -> None:
    endpoint.answer = lambda event, n: (410, {})
    async with serve(endpoint.app()) as url:
        sub = await rig.subscribe(f"{url}/hook", endpoint.secret)
        async with rig.delivering():
            await rig.publish("itero:4242:rx1", 0)
            await collect(rig.bus, [rig.topics.events], lambda ev: bool(of_type(ev, SUBSCRIPTION_DISABLED)))
    found = await rig.store.subscriptions.get(sub.id)
    assert found is not None and found.status == "disabled" and len(endpoint.attempts) == 1


async def test_retry_after_is_honoured(rig: Rig, endpoint: Endpoint) -> None:
    endpoint.answer = lambda event, n: (429, {"retry-after": "1"}) if n == 1 else (204, {})
    async with serve(endpoint.app()) as url:
        await rig.subscribe(f"{url}/hook", endpoint.secret)
        async with rig.delivering(max_delay_s=0.1):  # the endpoint's 1 s wins over our 0.1 s ceiling
            await rig.publish("itero:4242:rx1", 0)
            await endpoint.until(lambda: len(endpoint.accepted) == 1)
    first, second = endpoint.attempts
    assert first.webhook_id == second.webhook_id  # the same message id on the retry
    assert second.at - first.at >= 1.0  # a lower bound the deliverer guarantees, not a timing guess


async def test_an_event_refused_for_good_is_dead_lettered_and_the_next_goes_on(rig: Rig,
                                                                                endpoint: Endpoint) -> None:
    endpoint.answer = lambda event, n: (422, {}) if event["data"]["n"] == 1 else (204, {})
    async with serve(endpoint.app()) as url:
        sub = await rig.subscribe(f"{url}/hook", endpoint.secret)
        async with rig.delivering():
            published = [await rig.publish("itero:4242:rx1", n) for n in range(3)]
            await endpoint.until(lambda: len(endpoint.accepted) == 2)
        assert endpoint.ids() == [published[0].id, published[2].id]
        letters = await rig.store.subscriptions.dead_letters(sub.id)
        assert [(d.event_id, d.reason) for d in letters] == [(published[1].id, "refused: 422")]
        assert letters[0].event["data"] == {"n": 1, "key": "itero:4242:rx1"}
        endpoint.answer = lambda event, n: (204, {})  # the endpoint accepts it now
        async with delivery_client(allow_private=True, timeout_s=5.0) as http:
            report = await resend_dead_letters(rig.store, sub, http, rig.settings)
    assert (report.sent, report.refused, report.stopped) == (1, [], None)
    assert endpoint.ids()[-1] == published[1].id
    assert await rig.store.subscriptions.dead_letters(sub.id) == []


async def test_a_replay_sends_a_time_range_again_in_order(rig: Rig, endpoint: Endpoint) -> None:
    async with serve(endpoint.app()) as url:
        sub = await rig.subscribe(f"{url}/hook", endpoint.secret, event_types=("order.updated",))
        async with rig.delivering():
            published = [await rig.publish("itero:4242:rx1", n) for n in range(4)]
            await rig.publish("itero:4242:rx1", 9, event_type="artifact.failed")  # not its type
            await endpoint.until(lambda: len(endpoint.accepted) == 4)
        assert sub.created_at is not None
        async with delivery_client(allow_private=True, timeout_s=5.0) as http:
            report = await replay_range(rig.bus, rig.store, rig.topics, sub, http, rig.settings,
                                        sub.created_at)
    assert report.sent == 4 and report.stopped is None
    assert endpoint.ids() == [e.id for e in published] * 2  # the same message ids: receivers may dedupe


async def test_one_delivery_per_event_even_when_the_log_is_read_again(rig: Rig, endpoint: Endpoint) -> None:
    async with serve(endpoint.app()) as url:
        await rig.subscribe(f"{url}/hook", endpoint.secret)
        async with rig.delivering():
            first = [await rig.publish("itero:4242:rx1", n) for n in range(3)]
            await endpoint.until(lambda: len(endpoint.accepted) == 3)
        # As after a crash before the offsets were committed: a new group reads everything again.
        async with rig.delivering(group_prefix="another-group-"):
            second = [await rig.publish("itero:4242:rx1", n) for n in range(3, 5)]
            await endpoint.until(lambda: len(endpoint.accepted) == 5)
    assert endpoint.ids() == [e.id for e in first + second]


async def test_during_a_secret_rotation_receivers_with_either_secret_verify(rig: Rig,
                                                                           endpoint: Endpoint) -> None:
    from consumers.delivery.manage import rotate_secret
    from tests.consumers.delivery.endpoint import Endpoint as Receiver

    async with serve(endpoint.app()) as url:
        sub = await rig.subscribe(f"{url}/hook", endpoint.secret)
        new = await rotate_secret(rig.store.subscriptions, sub.id, grace_s=3600)
        assert new is not None and new != endpoint.secret
        moved = Receiver(secret=new)
        async with serve(moved.app()) as moved_url, rig.delivering():
            await rig.publish("itero:4242:rx1", 0)
            await endpoint.until(lambda: len(endpoint.accepted) == 1)  # the old secret still verifies
            rotated = await rig.store.subscriptions.get(sub.id)
            assert rotated is not None
            from state.base import Subscription as Sub

            await rig.store.subscriptions.remove(sub.id)
            await rig.store.subscriptions.add(Sub(**{**rotated.__dict__, "url": f"{moved_url}/hook",
                                                     "id": "moved"}))
            await rig.publish("itero:4242:rx1", 1)
            await moved.until(lambda: len(moved.accepted) == 1)  # and so does the new one
    assert endpoint.unverified == 0 and moved.unverified == 0
    after = await rotate_secret(rig.store.subscriptions, "moved", grace_s=0)
    found = await rig.store.subscriptions.get("moved")
    assert found is not None and [s.secret for s in found.secrets] == [after]  # no grace: the old is gone
