"""iTero commands over the simulator, on both bus backends (itero-dpms-api.txt "Scan Request", "Delete RX",
"Callback Request"): each success path, each documented error, a command delivered twice pushing once, and
an interrupted command settled from what was recorded (iTero lists no pending Rx to read)."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bus.factory import make_bus
from scanbridge.receiving import create_app as create_receiver
from schemas.commands.itero import DeleteRx, ScanRequest
from schemas.commands.settings import CommandSettings
from schemas.settings import (
    BusSettings,
    IteroConnection,
    Settings,
    StorageSettings,
    WebhookAuth,
    WorkerSettings,
)
from simulators.itero.app import create_app as create_sim
from simulators.itero.notify import post_notification
from simulators.itero.rx import SimPatient
from simulators.itero.state import IteroSimState
from tests.consumers.commands.stacks import Commands, executing
from tests.events import collect
from tests.itero.conftest import FAST_RETRY
from tests.servers import serve

CHART = "MRN-0042"


@dataclass
class Itero:
    commands: Commands
    sim: IteroSimState
    hook: str

    def pushes(self) -> int:
        return sum(1 for method, path in self.sim.requests
                   if method == "POST" and path.endswith("/scan-request"))


@pytest.fixture
async def itero(tmp_path: Path, bus_settings: BusSettings,
                command_settings: CommandSettings) -> AsyncIterator[Itero]:
    sim = IteroSimState(workdir=tmp_path / "sim")
    bus = make_bus(bus_settings)
    await bus.ensure_topics(bus_settings.topics.all())
    await bus.start()
    token = secrets.token_urlsafe(32)
    try:
        async with serve(create_sim(sim)) as sim_url:
            access, refresh = sim.issue_tokens()
            connection = IteroConnection(id="clinic-1", company_id=str(sim.company_id),
                                         webhook=WebhookAuth(token=token), base_url=sim_url,
                                         token_url=f"{sim_url}/oauth/token", access_token=access,
                                         refresh_token=refresh, poll=False)
            settings = Settings(bus=bus_settings, storage=StorageSettings(root=tmp_path / "artifacts"),
                                worker=WorkerSettings(retry=FAST_RETRY), state_dir=tmp_path / "state",
                                itero=[connection], commands=command_settings)
            async with serve(create_receiver(settings, bus, manage_bus=False)) as receiver_url, \
                    executing(settings, bus) as commands:
                yield Itero(commands, sim, f"{receiver_url}/hooks/itero/{token}")
    finally:
        await bus.close()


def scan_request(**changes: object) -> ScanRequest:
    fields: dict[str, object] = {
        "command_id": uuid.uuid4(), "connection": "clinic-1", "doctor_id": 501,
        "patient_first_name": "Jane", "patient_last_name": "Example", "patient_chart_number": CHART,
        "patient_date_of_birth": "1980-02-03", "procedure_map_id": 30, "lab_id": 88}
    return ScanRequest.model_validate(fields | changes)


async def test_scan_request_pushes_the_rx_and_its_scan_notification_carries_the_command_id(
        itero: Itero) -> None:
    command = scan_request()
    await itero.commands.send(command)
    [result] = await itero.commands.results(str(command.command_id))
    data = result.json_data()
    assert result.type == "command.succeeded"
    rx = data["vendor_ids"]["rx_id"]
    pushed = itero.sim.scan_requests.rxs[rx]
    assert pushed.body["CompanyId"] == itero.sim.company_id and pushed.body["PatientChartNumber"] == CHART
    assert pushed.body["DateOfBirth"] == "1980-02-03" and pushed.body["procedureMapId"] == 30
    assert CHART not in json.dumps(result.model_dump(mode="json")) and result.subject.startswith("patient-")
    itero.sim.add_order(rx_id=rx)  # the patient was scanned: iTero notifies
    await post_notification(itero.hook, rx, itero.sim.company_id)
    events = await collect(itero.commands.bus, [itero.commands.topics.events],
                           lambda got: any(e.type == "scan.notified" for e in got))
    [notified] = [e for e in events if e.type == "scan.notified"]
    assert notified.json_data()["rx_id"] == rx
    assert notified.json_data()["command_id"] == str(command.command_id)


async def test_a_duplicate_chart_number_fails_the_command_saying_so(itero: Itero) -> None:
    itero.sim.scan_requests.patients += [SimPatient("Ann", "One", CHART), SimPatient("Bob", "Two", CHART)]
    command = scan_request()
    await itero.commands.send(command)
    data = await itero.commands.result(str(command.command_id))
    assert (data["succeeded"], data["reason"], data["vendor_status"], data["vendor_error"]) == (
        False, "vendor_refused", 409, "duplicate_chart_number")
    assert "chart number" in data["message"] and not data["retryable"]
    assert itero.sim.scan_requests.rxs == {}


@pytest.mark.parametrize(("case", "status", "reason", "retryable"), [
    ("wrong doctor", 400, "vendor_refused", False),
    ("un-paired", 401, "needs_reauthorization", True),
    ("server error", 500, "outcome_unknown", True),
])
async def test_a_documented_scan_request_error_is_a_failed_command(
        itero: Itero, case: str, status: int, reason: str, retryable: bool) -> None:
    command = scan_request(doctor_id=999) if case == "wrong doctor" else scan_request()
    if case == "un-paired":
        itero.sim.paired = False  # tokens and the refresh token refused from now on
    if case == "server error":
        itero.sim.fail_next("/scan-request", 500)
    await itero.commands.send(command)
    data = await itero.commands.result(str(command.command_id))
    assert (data["succeeded"], data["reason"], data["retryable"]) == (False, reason, retryable)
    if case != "un-paired":
        assert data["vendor_status"] == status
    assert itero.pushes() == 1 and itero.sim.scan_requests.rxs == {}


async def test_delete_rx_removes_the_rx_and_an_unknown_one_is_refused_with_400(itero: Itero) -> None:
    rx = itero.sim.scan_requests.push({"CompanyId": itero.sim.company_id, "DoctorId": 501,
                                       "PatientFirstName": "J", "PatientLastName": "E",
                                       "PatientChartNumber": "C-1"}).rx_id
    command = DeleteRx(command_id=uuid.uuid4(), connection="clinic-1", rx_id=uuid.UUID(rx))
    await itero.commands.send(command)
    data = await itero.commands.result(str(command.command_id))
    assert data["succeeded"] is True and data["vendor_ids"] == {"rx_id": rx}
    assert rx in itero.sim.scan_requests.deleted and rx not in itero.sim.scan_requests.rxs
    again = DeleteRx(command_id=uuid.uuid4(), connection="clinic-1", rx_id=uuid.UUID(rx))
    await itero.commands.send(again)
    data = await itero.commands.result(str(again.command_id))
    assert (data["succeeded"], data["reason"], data["vendor_status"]) == (False, "vendor_refused", 400)
    assert "Wrong RXID" in data["message"]


async def test_a_scan_request_delivered_twice_pushes_once(itero: Itero) -> None:
    command = scan_request()
    await itero.commands.send(command)
    await itero.commands.results(str(command.command_id))
    await itero.commands.send(command)
    first, second = await itero.commands.results(str(command.command_id), count=2)
    assert first.id == second.id and first.type == second.type == "command.succeeded"
    assert itero.pushes() == 1 and len(itero.sim.scan_requests.rxs) == 1


async def test_an_interrupted_scan_request_whose_rx_was_recorded_succeeds_without_a_second_push(
        itero: Itero) -> None:
    command = scan_request()
    rx = str(uuid.uuid4())
    await itero.commands.started(command, rx_id=rx)  # iTero answered, the executor died before finishing
    await itero.commands.send(command)
    data = await itero.commands.result(str(command.command_id))
    assert (data["succeeded"], data["reconciled"], data["vendor_ids"]) == (True, True, {"rx_id": rx})
    assert itero.pushes() == 0
    linked = await itero.commands.log.linked("itero", "clinic-1", "rx", rx)
    assert linked == str(command.command_id)  # its scan notification will carry the command id


@pytest.mark.parametrize("model", ["scan_request", "delete_rx"])
async def test_an_interrupted_command_with_nothing_recorded_is_an_unknown_outcome(
        itero: Itero, model: str) -> None:
    command = scan_request() if model == "scan_request" else DeleteRx(
        command_id=uuid.uuid4(), connection="clinic-1", rx_id=uuid.uuid4())
    await itero.commands.started(command)
    await itero.commands.send(command)
    data = await itero.commands.result(str(command.command_id))
    assert (data["succeeded"], data["reason"], data["reconciled"]) == (False, "outcome_unknown", True)
    assert not any(method in ("POST", "DELETE") for method, _ in itero.sim.requests)
