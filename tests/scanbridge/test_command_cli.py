"""`scanbridge command send | show` against a running executor (the Medit Link simulator), both buses."""
# ruff: noqa: F811 - the fixtures of tests/consumers/commands/conftest.py are imported by name

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

from scanbridge.runtime import run_worker
from tests.cli import invoke
from tests.consumers.commands.conftest import (  # noqa: F401 - fixtures
    CommandStack,
    bus_settings,
    command_settings,
    executor,
    sim,
    stack,
)


def _env(stack: CommandStack) -> dict[str, str | None]:
    return {"SCANBRIDGE_STATE_DIR": str(stack.settings.state_dir)}


async def test_send_prints_the_result_and_show_the_log_record(stack: CommandStack, executor: object,
                                                              tmp_path: Path) -> None:
    order = stack.sim.create_order(stack.sim.create_case().uuid).number
    data = tmp_path / "accept.json"
    data.write_text(json.dumps({"order_number": order}))
    command_id = str(uuid.uuid4())
    sent = await invoke(["command", "send", "meditlink.accept_order", "--connection", "lab-1",
                         "--data", f"@{data}", "--command-id", command_id, "--timeout", "30"],
                        stack.settings.bus, tmp_path, _env(stack))
    assert sent.exit_code == 0, sent.output
    result = json.loads(sent.stdout.strip().splitlines()[-1])
    assert result["type"] == "command.succeeded" and result["data"]["command_id"] == command_id
    assert result["partitionkey"] == f"meditlink:lab-1:{order}"
    shown = await invoke(["command", "show", command_id], stack.settings.bus, tmp_path, _env(stack))
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.stdout)
    assert record["phase"] == "succeeded" and record["result"]["result"]["status"] == "ACCEPTED"


async def test_a_failed_command_exits_1_and_an_invalid_one_is_refused_before_sending(
        stack: CommandStack, executor: object, tmp_path: Path) -> None:
    failed = await invoke(["command", "send", "meditlink.accept_order", "--connection", "lab-1",
                           "--data", '{"order_number": 999}', "--timeout", "30"],
                          stack.settings.bus, tmp_path, _env(stack))
    assert failed.exit_code == 1 and json.loads(failed.stdout.strip())["data"]["vendor_status"] == 404
    invalid = await invoke(["command", "send", "meditlink.accept_order", "--connection", "lab-1",
                            "--data", '{"order_number": "x"}'], stack.settings.bus, tmp_path, _env(stack))
    assert invalid.exit_code == 2 and "order_number" in invalid.output


async def test_without_an_executor_send_times_out_with_the_command_id(
        stack: CommandStack, tmp_path: Path) -> None:
    command_id = str(uuid.uuid4())
    sent = await invoke(["command", "send", "meditlink.cancel_order", "--connection", "clinic-1",
                         "--data", '{"order_number": 5}', "--command-id", command_id, "--timeout", "1"],
                        stack.settings.bus, tmp_path, _env(stack))
    assert sent.exit_code == 3 and command_id in sent.output
    shown = await invoke(["command", "show", command_id], stack.settings.bus, tmp_path, _env(stack))
    assert shown.exit_code == 1 and "no command" in shown.output


async def test_the_worker_process_executes_commands(stack: CommandStack, tmp_path: Path) -> None:
    """`scanbridge worker` (and so `scanbridge run`) runs the executor beside the worker."""
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(stack.settings, stack.bus, stop, shared=stack.shared))
    try:
        order = stack.sim.create_order(stack.sim.create_case().uuid).number
        sent = await invoke(["command", "send", "meditlink.reject_order", "--connection", "lab-1",
                             "--data", json.dumps({"order_number": order}), "--timeout", "30"],
                            stack.settings.bus, tmp_path, _env(stack))
        assert sent.exit_code == 0, sent.output
        assert stack.sim.orders[order].status == "REJECTED"
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)

