"""The executor's contract, over the Medit Link simulator on both bus backends: invalid commands are refused
without a vendor call, a command delivered twice calls the vendor once, a crash between the call and the
record is reconciled by reading the vendor's state (README "Acting on vendors")."""

from __future__ import annotations

import uuid

import pytest

from consumers.commands.executor import Executor, fingerprint
from consumers.meditlink.commands import client_of
from consumers.urlpath import segment
from schemas.commands.meditlink import AcceptOrder, CancelOrder
from schemas.commands.settings import CommandProducer, CommandSettings
from state.base import ConnectionKey
from state.commandlog import CommandRecord
from tests.consumers.commands.conftest import CommandStack
from tests.events import collect

pytestmark = pytest.mark.usefixtures("executor")


def _order(stack: CommandStack) -> int:
    case = stack.sim.create_case()
    return stack.sim.create_order(case.uuid).number


def accept(order: int, connection: str = "lab-1") -> AcceptOrder:
    return AcceptOrder(command_id=uuid.uuid4(), connection=connection, order_number=order)


async def test_accept_order_succeeds_with_the_orders_new_status_keyed_like_the_command(
        stack: CommandStack) -> None:
    order = _order(stack)
    command = accept(order)
    sent = await stack.send(command)
    [result] = await stack.results(str(command.command_id))
    assert result.type == "command.succeeded"
    assert result.partitionkey == sent.partitionkey == f"meditlink:lab-1:{order}"
    data = result.json_data()
    assert data["result"]["status"] == "ACCEPTED" and data["vendor_ids"] == {"order_number": str(order)}
    assert stack.sim.orders[order].status == "ACCEPTED"
    record = await stack.log.get(str(command.command_id))
    assert record is not None and record.phase == "succeeded"


async def test_a_command_delivered_twice_calls_the_vendor_once_and_answers_twice_alike(
        stack: CommandStack) -> None:
    order = _order(stack)
    command = accept(order)
    await stack.send(command)
    await stack.results(str(command.command_id))
    await stack.send(command)  # a producer retry, a replay
    first, second = await stack.results(str(command.command_id), count=2)
    assert first.id == second.id and first.type == second.type == "command.succeeded"
    assert stack.requests(f"/v1/orders/{order}/accept", "PUT") == 1


async def test_a_crash_between_the_vendor_call_and_the_record_is_reconciled_without_a_second_call(
        stack: CommandStack) -> None:
    order = _order(stack)
    command = accept(order)
    # an executor claimed the command and called Medit, then died before recording the answer
    mine, _ = await stack.log.claim(started(command))
    assert mine
    response = await client_of(stack.ctx, command).send("PUT", f"orders/{segment(str(order), 'o')}/accept")
    assert response.status_code == 200
    await stack.send(command)  # redelivered to the next executor
    data = await stack.result(str(command.command_id))
    assert data["succeeded"] is True and data["reconciled"] is True
    assert stack.requests(f"/v1/orders/{order}/accept", "PUT") == 1
    assert stack.requests(f"/v1/orders/{order}", "GET") == 1  # the reconciliation read


async def test_a_command_another_executor_is_still_running_is_waited_for_not_reconciled(
        stack: CommandStack) -> None:
    stack.settings.commands.reconcile_after_s = 300  # its record moved just now: maybe still at work
    order = _order(stack)
    command = accept(order)
    _, claimed = await stack.log.claim(started(command))
    await stack.send(command)  # a rebalance handed the partition over while the first executor works
    response = await client_of(stack.ctx, command).send("PUT", f"orders/{segment(str(order), 'o')}/accept")
    assert response.status_code == 200
    # the first executor records its result
    result = Executor._result(claimed, succeeded=True, result={"status": "ACCEPTED"})
    await stack.log.update(claimed, phase="succeeded", result=result.model_dump(mode="json"))
    data = await stack.result(str(command.command_id))
    assert data["succeeded"] is True and data["reconciled"] is False
    assert stack.requests(f"/v1/orders/{order}", "GET") == 0  # no reconciliation read
    assert stack.requests(f"/v1/orders/{order}/accept", "PUT") == 1


async def test_a_crash_before_the_call_took_effect_fails_as_interrupted_without_calling(
        stack: CommandStack) -> None:
    order = _order(stack)
    command = accept(order)
    await stack.log.claim(started(command))
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert (data["succeeded"], data["reason"], data["retryable"]) == (False, "interrupted", True)
    assert stack.requests(f"/v1/orders/{order}/accept", "PUT") == 0
    assert stack.sim.orders[order].status == "PENDING"


async def test_when_the_vendors_state_cannot_be_read_the_outcome_is_unknown(stack: CommandStack) -> None:
    order = _order(stack)
    command = accept(order)
    await stack.log.claim(started(command))
    stack.sim.fail_next(f"/v1/orders/{order}", 500, count=10, method="GET")
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert (data["succeeded"], data["reason"]) == (False, "outcome_unknown")
    assert stack.requests(f"/v1/orders/{order}/accept", "PUT") == 0


async def test_an_invalid_command_fails_and_is_dead_lettered_without_a_vendor_call(
        stack: CommandStack) -> None:
    command_id = str(uuid.uuid4())
    await stack.send_raw("command.meditlink.accept_order",
                         {"command_id": command_id, "connection": "lab-1", "order_number": "not a number"})
    data = await stack.result(command_id)
    assert (data["succeeded"], data["reason"]) == (False, "invalid")
    assert "order_number" in data["message"] and "not a number" not in data["message"]
    [letter] = await stack.dead_letters()
    assert letter.json_data()["reason"].startswith("invalid: ")
    assert stack.requests("/v1/orders", "PUT") == 0


async def test_an_unknown_action_of_a_known_vendor_is_refused(stack: CommandStack) -> None:
    command_id = str(uuid.uuid4())
    await stack.send_raw("command.meditlink.launch_rocket", {"command_id": command_id, "connection": "lab-1"})
    data = await stack.result(command_id)
    assert (data["succeeded"], data["reason"]) == (False, "invalid")
    assert len(await stack.dead_letters()) == 1


async def test_an_unknown_connection_is_refused(stack: CommandStack) -> None:
    order = _order(stack)
    command = accept(order, connection="nobody")
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert (data["succeeded"], data["reason"]) == (False, "unknown_connection")
    assert len(await stack.dead_letters()) == 1
    assert stack.sim.orders[order].status == "PENDING"


async def test_a_connection_that_needs_reauthorization_is_refused_and_the_same_command_works_after(
        stack: CommandStack) -> None:
    order = _order(stack)
    command = accept(order)
    key = ConnectionKey("meditlink", "lab-1")
    await stack.shared.state.connections.record_failure(key, "needs_reauthorization", "refresh refused")
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert (data["succeeded"], data["reason"], data["retryable"]) == (False, "needs_reauthorization", False)
    assert stack.requests("/v1/orders", "PUT") == 0
    await stack.shared.state.connections.record_success(key)  # re-authorized
    await stack.send(command)
    results = await stack.results(str(command.command_id), count=2)
    assert [r.type for r in results] == ["command.failed", "command.succeeded"]


async def test_a_command_id_reused_for_another_command_is_refused(stack: CommandStack) -> None:
    first, second = _order(stack), _order(stack)
    command = accept(first)
    await stack.send(command)
    await stack.results(str(command.command_id))
    await stack.send(accept(second).model_copy(update={"command_id": command.command_id}))
    results = await stack.results(str(command.command_id), count=2)  # two partitions: any order
    assert sorted(str(r.json_data()["reason"]) for r in results) == ["None", "command_id_reused"]
    assert results[0].id != results[1].id
    assert stack.sim.orders[second].status == "PENDING"


async def test_other_command_types_are_left_to_their_listeners(stack: CommandStack) -> None:
    await stack.send_raw("command.watch_patients",
                         {"connection": "x", "action": "watch", "integration_ids": ["1"]})
    order = _order(stack)
    command = accept(order)
    await stack.send(command)
    await stack.result(str(command.command_id))  # handled after the foreign one
    letters = await collect(stack.bus, [stack.topics.deadletter], lambda got: True, timeout=2)
    assert letters == []


def started(command: AcceptOrder) -> CommandRecord:
    """The log record an executor writes before calling the vendor."""
    return CommandRecord(command_id=str(command.command_id), type=command.command_type(), vendor="meditlink",
                         connection=command.connection, subject=command.subject(),
                         partitionkey=command.partition_key(),
                         fingerprint=fingerprint(command.command_type(), command))


@pytest.fixture
def command_settings() -> CommandSettings:
    return CommandSettings(shared_topic_connections=["meditlink/*"], reconcile_after_s=0, producers=[
        CommandProducer(name="pms", topic=f"t-{uuid.uuid4().hex[:8]}.commands.pms",
                        connections=["meditlink/clinic-1"])])


async def test_a_producer_may_target_only_the_connections_configured_for_its_topic(
        stack: CommandStack) -> None:
    producer = stack.settings.commands.producers[0]
    refused = accept(_order(stack))  # lab-1: not the producer's
    await stack.send(refused, topic=producer.topic)
    data = await stack.result(str(refused.command_id))
    assert (data["succeeded"], data["reason"]) == (False, "not_authorized")
    order = _order(stack)
    cancel = CancelOrder(command_id=uuid.uuid4(), connection="clinic-1", order_number=order)
    await stack.send(cancel, topic=producer.topic)
    assert (await stack.result(str(cancel.command_id)))["succeeded"] is True
    assert stack.sim.orders[order].status == "CANCELED"
