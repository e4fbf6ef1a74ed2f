"""3Shape Dental Desktop commands over the simulator (HTTPS, pinned CA), on both bus backends
(3shape-dental-desktop-pms-integration.txt "/CreatePatient", "/UpdatePatient", "/CreateCase", "/SelectCase",
"/GetRequestStatusById", "/RemoveRequestById", "Request status reference"): each success path, each
documented status a command can meet, a command delivered twice calling once, an interrupted command
settled by the request status, a cancelled request."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.factory import make_bus
from consumers.threeshape.watchlist import WatchList
from schemas.commands.base import CommandData
from schemas.commands.settings import CommandSettings
from schemas.commands.threeshape import CancelRequest, CreateCase, CreatePatient, SelectCase, UpdatePatient
from schemas.settings import BusSettings, Settings, StorageSettings, ThreeShapeConnection
from simulators.threeshape import DentalDesktopState, create_app, write_tls_files
from simulators.threeshape.requests import Patient
from tests.consumers.commands.stacks import Commands, executing
from tests.servers import serve

INTEGRATION = "PMS-4711"


@dataclass
class ThreeShape:
    commands: Commands
    sim: DentalDesktopState
    connection: ThreeShapeConnection

    @property
    def client(self) -> uuid.UUID:
        return uuid.UUID(self.sim.clients[0].client_id)

    def calls(self, method: str) -> int:
        return sum(1 for r in self.sim.requests if r.method == method.lower())

    async def result(self, command: CommandData) -> dict[str, Any]:
        return await self.commands.result(str(command.command_id))


@pytest.fixture
async def threeshape(tmp_path: Path, bus_settings: BusSettings,
                     command_settings: CommandSettings) -> AsyncIterator[ThreeShape]:
    sim = DentalDesktopState(users={"Sam": "qwerty123"})
    tls = write_tls_files(tmp_path / "tls")
    bus = make_bus(bus_settings)
    await bus.ensure_topics(bus_settings.topics.all())
    await bus.start()
    try:
        async with serve(create_app(sim), ssl_certfile=str(tls.certfile), ssl_keyfile=str(tls.keyfile),
                         timeout_graceful_shutdown=1) as url:
            address = httpx.URL(url)
            connection = ThreeShapeConnection(id="clinic-1", host=address.host, port=address.port or 443,
                                              user="Sam", password="qwerty123",
                                              ca_thumbprint=tls.ca_thumbprint, request_poll_s=0.02,
                                              request_timeout_s=2.0)
            settings = Settings(bus=bus_settings, storage=StorageSettings(root=tmp_path / "artifacts"),
                                state_dir=tmp_path / "state", threeshape=[connection],
                                commands=command_settings)
            async with executing(settings, bus) as commands:
                yield ThreeShape(commands, sim, connection)
    finally:
        await bus.close()


def create(**changes: Any) -> CreatePatient:
    fields: dict[str, Any] = {"command_id": uuid.uuid4(), "connection": "clinic-1",
                              "integration_id": INTEGRATION, "patient_last_name": "Example",
                              "patient_first_name": "Jane", "patient_date_of_birth": "1980-02-03"}
    return CreatePatient.model_validate(fields | changes)


async def test_create_patient_on_the_server_succeeds_with_status_4_and_the_patient_is_watched(
        threeshape: ThreeShape) -> None:
    command = create(patient_id="SSN-1")
    await threeshape.commands.send(command)
    [result] = await threeshape.commands.results(str(command.command_id))
    data = result.json_data()
    assert result.type == "command.succeeded" and data["result"]["status_code"] == 4
    assert data["vendor_ids"] == {"request_id": str(command.command_id)}
    [patient] = threeshape.sim.pool.patients
    assert (patient.integration_id, patient.last_name, patient.date_of_birth) == (
        INTEGRATION, "Example", "1980-02-03")
    assert INTEGRATION in await WatchList(threeshape.commands.shared.state, threeshape.connection).ids()
    assert INTEGRATION not in json.dumps(result.model_dump(mode="json"))  # subject: a digest


async def test_create_patient_with_merge_on_a_client_maps_the_existing_patient(
        threeshape: ThreeShape) -> None:
    threeshape.sim.pool.patients.append(Patient(last_name="Example", first_name="Jane"))
    command = create(client_id=threeshape.client, merge=True)
    await threeshape.commands.send(command)
    data = await threeshape.result(command)
    assert data["succeeded"] is True and data["result"]["status_code"] == 4
    [patient] = threeshape.sim.pool.patients  # merged, not created
    assert patient.integration_id == INTEGRATION
    query = next(r.query for r in threeshape.sim.requests if r.method == "createpatient")
    assert "MergePatient=True" in query and f"RequestId={command.command_id}" in query


async def test_update_patient_sets_the_details_and_erases_what_it_leaves_out(threeshape: ThreeShape) -> None:
    threeshape.sim.pool.patients.append(Patient(last_name="Old", first_name="Jane",
                                                integration_id=INTEGRATION))
    command = UpdatePatient(command_id=uuid.uuid4(), connection="clinic-1", integration_id=INTEGRATION,
                            patient_last_name="New")
    await threeshape.commands.send(command)
    assert (await threeshape.result(command))["succeeded"] is True
    [patient] = threeshape.sim.pool.patients
    assert (patient.last_name, patient.first_name) == ("New", "")  # the doc: an omitted parameter erases


async def test_create_case_and_select_case_run_on_a_client(threeshape: ThreeShape) -> None:
    threeshape.sim.pool.patients.append(Patient(last_name="Example", integration_id=INTEGRATION))
    command = CreateCase(command_id=uuid.uuid4(), connection="clinic-1", integration_id=INTEGRATION,
                         client_id=threeshape.client)
    await threeshape.commands.send(command)
    assert (await threeshape.result(command))["succeeded"] is True
    [case] = threeshape.sim.cases.values()
    assert case.integration_id == INTEGRATION
    select = SelectCase(command_id=uuid.uuid4(), connection="clinic-1", case_id=uuid.UUID(case.case_id),
                        client_id=threeshape.client)
    await threeshape.commands.send(select)
    assert (await threeshape.result(select))["result"]["status_code"] == 4


@pytest.mark.parametrize(("case", "code", "reason", "retryable"), [
    ("integration id taken", 107, "vendor_refused", False),
    ("patient id not unique", 105, "vendor_refused", False),
    ("no such patient", 106, "vendor_refused", False),
    ("no such case", 104, "vendor_refused", False),
    ("user cancelled", 1, "vendor_refused", False),
    ("navigation failed", 2, "vendor_refused", True),
    ("client not responding", 6, "vendor_unavailable", True),
    ("client exception", 10, "vendor_unavailable", True),
    ("internal error", 108, "vendor_unavailable", True),
])
async def test_a_documented_request_status_is_a_failed_command_with_its_code(
        threeshape: ThreeShape, case: str, code: int, reason: str, retryable: bool) -> None:
    pool = threeshape.sim.pool
    command: CommandData
    if case == "integration id taken":
        pool.patients.append(Patient(last_name="X", integration_id=INTEGRATION))
        command = create()
    elif case == "patient id not unique":
        pool.patients.append(Patient(last_name="X", patient_id="SSN-1", integration_id="other"))
        command = create(patient_id="SSN-1")
    elif case == "no such patient":
        command = UpdatePatient(command_id=uuid.uuid4(), connection="clinic-1", integration_id=INTEGRATION,
                                patient_last_name="X")
    elif case == "no such case":
        command = SelectCase(command_id=uuid.uuid4(), connection="clinic-1", case_id=uuid.uuid4(),
                             client_id=threeshape.client)
    else:  # the client's own outcome
        pool.next_outcomes.append(code)
        command = create(client_id=threeshape.client)
    await threeshape.commands.send(command)
    data = await threeshape.result(command)
    assert (data["succeeded"], data["reason"], data["vendor_error"], data["retryable"]) == (
        False, reason, str(code), retryable)
    assert f"request status {code}" in data["message"]


async def test_a_request_no_client_picks_up_is_removed_from_the_pool(threeshape: ThreeShape) -> None:
    command = create(client_id=uuid.uuid4())  # a client that is not connected
    await threeshape.commands.send(command)
    data = await threeshape.result(command)
    assert (data["succeeded"], data["reason"], data["vendor_error"], data["retryable"]) == (
        False, "vendor_unavailable", "3", True)
    assert threeshape.sim.pool.statuses[str(command.command_id)] == 3 and threeshape.sim.pool.patients == []


async def test_cancel_request_removes_a_waiting_request_and_its_command_fails_as_cancelled(
        threeshape: ThreeShape) -> None:
    threeshape.sim.pool.auto_handle = False  # no client picks it up
    target = create(client_id=threeshape.client)
    await threeshape.commands.send(target)
    await _until(lambda: str(target.command_id) in threeshape.sim.pool.requests)
    cancel = CancelRequest(command_id=uuid.uuid4(), connection="clinic-1",
                           target_command_id=target.command_id)
    await threeshape.commands.send(cancel)
    assert (await threeshape.result(cancel))["succeeded"] is True
    data = await threeshape.result(target)
    assert (data["succeeded"], data["reason"], data["vendor_error"]) == (False, "cancelled", "3")
    assert threeshape.sim.pool.patients == []


async def test_cancel_request_of_a_picked_up_request_is_refused(threeshape: ThreeShape) -> None:
    pool = threeshape.sim.pool
    pool.auto_handle = False
    target = create(client_id=threeshape.client)
    await threeshape.commands.send(target)
    await _until(lambda: str(target.command_id) in pool.requests)
    pool.pick_up(str(target.command_id))
    cancel = CancelRequest(command_id=uuid.uuid4(), connection="clinic-1",
                           target_command_id=target.command_id)
    await threeshape.commands.send(cancel)
    data = await threeshape.result(cancel)
    assert (data["succeeded"], data["reason"], data["vendor_error"]) == (False, "vendor_refused", "false")
    pool.handle(str(target.command_id))  # the client finishes it
    assert (await threeshape.result(target))["succeeded"] is True


async def test_a_command_delivered_twice_calls_the_server_once(threeshape: ThreeShape) -> None:
    command = create()
    await threeshape.commands.send(command)
    await threeshape.commands.results(str(command.command_id))
    await threeshape.commands.send(command)
    first, second = await threeshape.commands.results(str(command.command_id), count=2)
    assert first.id == second.id and first.type == second.type == "command.succeeded"
    assert threeshape.calls("CreatePatient") == 1


async def test_an_interrupted_command_is_settled_by_its_request_status_without_a_second_call(
        threeshape: ThreeShape) -> None:
    command = create()
    await threeshape.commands.started(command)
    # the executor called CreatePatient and died before recording anything
    params = {"integrationid": INTEGRATION, "lastname": "Example", "requestid": str(command.command_id)}
    assert threeshape.sim.pool.call("createpatient", params) == 4
    await threeshape.commands.send(command)
    data = await threeshape.result(command)
    assert (data["succeeded"], data["reconciled"], data["result"]["status_code"]) == (True, True, 4)
    assert threeshape.calls("CreatePatient") == 0 and threeshape.calls("GetRequestStatusById") >= 1
    assert INTEGRATION in await WatchList(threeshape.commands.shared.state, threeshape.connection).ids()


@pytest.mark.parametrize("case", ["never sent", "more than ten requests since"])
async def test_an_interrupted_command_without_a_request_status_is_an_unknown_outcome(
        threeshape: ThreeShape, case: str) -> None:
    command = create()
    await threeshape.commands.started(command)
    if case != "never sent":
        pool = threeshape.sim.pool
        pool.call("createpatient", {"integrationid": INTEGRATION, "lastname": "E",
                                    "requestid": str(command.command_id)})
        for n in range(10):  # the server keeps the last ten statuses
            pool.call("createpatient", {"integrationid": f"other-{n}", "lastname": "E",
                                        "requestid": str(uuid.uuid4())})
    await threeshape.commands.send(command)
    data = await threeshape.result(command)
    assert (data["succeeded"], data["reason"], data["vendor_error"]) == (False, "outcome_unknown", "404")
    assert threeshape.calls("CreatePatient") == 0


async def _until(condition: Any) -> None:
    async with asyncio.timeout(30):
        while not condition():
            await asyncio.sleep(0.02)
