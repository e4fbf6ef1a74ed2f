"""Each Medit Link command over the simulator, on both bus backends: its success path and each error its
section documents (meditlink-openapi.txt §2.3, §3.4.2–3.4.4, §3.5.3–3.5.5, Appendix B)."""

from __future__ import annotations

import asyncio
import tracemalloc
import uuid
from pathlib import Path

import httpx
import pytest

from schemas.commands.meditlink import AcceptOrder, CancelOrder, DeleteFile, RejectOrder, UploadFile
from schemas.commands.settings import CommandSettings
from state.base import Marker, MarkerKey
from tests.consumers.commands.conftest import CommandStack
from tests.events import collect

pytestmark = pytest.mark.usefixtures("executor")

UPLOADS = Path("uploads")
# The vendor-error matrix does not depend on the bus: on Kafka it runs with `make test-slow` (CI time).
LOCAL_THEN_SLOW_KAFKA = pytest.mark.parametrize(
    "bus_settings", ["local", pytest.param("kafka", marks=pytest.mark.slow)], indirect=True)


@pytest.fixture
def command_settings(tmp_path: Path) -> CommandSettings:
    (tmp_path / UPLOADS).mkdir()
    return CommandSettings(upload_roots=[tmp_path / UPLOADS], max_upload_bytes=200 * 1024**2,
                           chunk_bytes=1024**2, reconcile_after_s=0)


def _file(tmp_path: Path, name: str, size: int) -> Path:
    """`size` bytes written a MiB at a time (never held whole)."""
    path = tmp_path / UPLOADS / name
    block = (uuid.uuid4().bytes * 65536)[:1024**2]
    with path.open("wb") as out:
        for start in range(0, size, len(block)):
            out.write(block[:min(len(block), size - start)])
    return path


def _order(stack: CommandStack, status: str = "PENDING") -> int:
    case = stack.sim.create_case()
    return stack.sim.create_order(case.uuid, status=status).number


def _upload(stack: CommandStack, path: Path, case_uuid: str | None = None) -> UploadFile:
    case = case_uuid or stack.sim.create_case().uuid
    return UploadFile(command_id=uuid.uuid4(), connection="clinic-1", case_uuid=case, source=path.as_uri())


# -- orders (§3.5.3–3.5.5) ------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "connection", "status"), [
    (AcceptOrder, "lab-1", "ACCEPTED"), (RejectOrder, "lab-1", "REJECTED"),
    (CancelOrder, "clinic-1", "CANCELED")])
async def test_an_order_command_succeeds_with_the_new_status(
        stack: CommandStack, model: type[AcceptOrder], connection: str, status: str) -> None:
    order = _order(stack)
    command = model(command_id=uuid.uuid4(), connection=connection, order_number=order)
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert data["succeeded"] is True and data["result"]["status"] == status
    assert stack.sim.orders[order].status == status


@LOCAL_THEN_SLOW_KAFKA
@pytest.mark.parametrize(("case", "status", "reason", "retryable"), [
    ("malformed", 400, "vendor_refused", False),
    ("not the seller", 403, "vendor_refused", False),
    ("unknown order", 404, "vendor_refused", False),
    ("already processed", 409, "vendor_refused", False),
    ("throttled", 429, "throttled", True),
])
async def test_a_documented_order_error_is_a_failed_command_with_the_vendors_status(
        stack: CommandStack, case: str, status: int, reason: str, retryable: bool) -> None:
    order = _order(stack, status="CANCELED" if case == "already processed" else "PENDING")
    connection = "clinic-1" if case == "not the seller" else "lab-1"
    number = order + 1000 if case == "unknown order" else order
    if case in ("malformed", "throttled"):
        stack.sim.fail_next(f"/v1/orders/{order}/accept", status, method="PUT")
    command = AcceptOrder(command_id=uuid.uuid4(), connection=connection, order_number=number)
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert (data["succeeded"], data["vendor_status"], data["reason"], data["retryable"]) == (
        False, status, reason, retryable)
    assert data["message"]  # the vendor's message, §2.3.2


@LOCAL_THEN_SLOW_KAFKA
async def test_a_500_is_settled_by_reading_the_order_not_by_calling_again(stack: CommandStack) -> None:
    order = _order(stack)
    stack.sim.fail_next(f"/v1/orders/{order}/accept", 500, method="PUT")
    command = AcceptOrder(command_id=uuid.uuid4(), connection="lab-1", order_number=order)
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert (data["succeeded"], data["reason"], data["retryable"]) == (False, "vendor_unavailable", True)
    assert stack.requests(f"/v1/orders/{order}/accept", "PUT") == 1
    assert stack.requests(f"/v1/orders/{order}", "GET") == 1


@LOCAL_THEN_SLOW_KAFKA
async def test_a_refused_refresh_token_fails_the_command_as_needing_reauthorization(
        stack: CommandStack) -> None:
    order = _order(stack)
    stack.sim.expire_access_tokens()
    stack.sim.revoke_refresh_tokens()
    command = AcceptOrder(command_id=uuid.uuid4(), connection="lab-1", order_number=order)
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert (data["succeeded"], data["reason"]) == (False, "needs_reauthorization")
    assert stack.sim.orders[order].status == "PENDING"


# -- delete (§3.4.4) ------------------------------------------------------------------------------------

async def test_delete_file_removes_it_from_the_case(stack: CommandStack) -> None:
    case = stack.sim.create_case()
    file_uuid = case.files[0].uuid
    command = DeleteFile(command_id=uuid.uuid4(), connection="clinic-1", file_uuid=file_uuid)
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert data["succeeded"] is True and data["vendor_ids"] == {"file_uuid": file_uuid}
    assert stack.sim.find_file(file_uuid) is None


@LOCAL_THEN_SLOW_KAFKA
@pytest.mark.parametrize("status", [400, 403, 404])
async def test_a_documented_delete_error_is_a_failed_command(stack: CommandStack, status: int) -> None:
    case = stack.sim.create_case()
    file_uuid = case.files[0].uuid if status != 404 else str(uuid.uuid4())
    connection = "lab-1" if status == 403 else "clinic-1"  # the lab has no order of this case: 404 there
    if status in (400, 403):
        stack.sim.fail_next(f"/v1/files/{file_uuid}", status, method="DELETE")
    command = DeleteFile(command_id=uuid.uuid4(), connection=connection, file_uuid=file_uuid)
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert (data["succeeded"], data["vendor_status"], data["reason"]) == (False, status, "vendor_refused")


@LOCAL_THEN_SLOW_KAFKA
async def test_a_delete_answered_with_500_is_settled_by_reading_the_file(stack: CommandStack) -> None:
    file_uuid = stack.sim.create_case().files[0].uuid
    stack.sim.fail_next(f"/v1/files/{file_uuid}", 500, method="DELETE")
    command = DeleteFile(command_id=uuid.uuid4(), connection="clinic-1", file_uuid=file_uuid)
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert (data["succeeded"], data["reason"], data["retryable"]) == (False, "vendor_unavailable", True)
    assert stack.requests(f"/v1/files/{file_uuid}", "GET") == 1 and stack.sim.find_file(file_uuid) is not None


# -- upload (Appendix B, §3.4.2, §3.4.3) ----------------------------------------------------------------

async def test_upload_file_registers_uploads_and_succeeds_when_the_callback_comes(
        stack: CommandStack, tmp_path: Path) -> None:
    path = _file(tmp_path, "crown.stl", 300_000)
    command = _upload(stack, path)
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert data["succeeded"] is True
    file_uuid = data["vendor_ids"]["file_uuid"]
    assert data["result"]["uuid"] == file_uuid and data["result"]["name"] == "crown.stl.general.meditMesh"
    found = stack.sim.find_file(file_uuid)
    assert found is not None and found[0].uuid == command.case_uuid and found[1].size == 300_000
    [callback] = stack.sim.callbacks
    assert callback.url.startswith(f"{stack.receiver_url}/hooks/meditlink/") and callback.status_code == 202
    events = await collect(stack.bus, [stack.topics.events],
                           lambda got: any(e.type == "scan.notified" for e in got))
    [notified] = [e for e in events if e.type == "scan.notified"]
    assert notified.json_data()["command_id"] == str(command.command_id)
    assert not (tmp_path / "state" / "command-uploads").exists() or not any(
        (tmp_path / "state" / "command-uploads").iterdir())


async def test_an_upload_over_100_mb_streams_with_bounded_memory_and_the_callback_matches(
        stack: CommandStack, tmp_path: Path) -> None:
    size = 101 * 1024**2 + 17
    path = _file(tmp_path, "big.ply", size)
    command = _upload(stack, path)
    tracemalloc.start()
    try:
        await stack.send(command)
        data = await stack.result(str(command.command_id))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert data["succeeded"] is True
    found = stack.sim.find_file(data["vendor_ids"]["file_uuid"])
    assert found is not None and found[1].size == size
    # executor, simulator and receiver together: a few chunks of 1 MiB, never the file
    print(f"peak Python heap {peak / 1024**2:.1f} MiB")  # pytest -s shows it (3.5 MiB for 101 MiB here)
    assert peak < 24 * 1024**2, f"peak heap {peak / 1024**2:.1f} MiB for {size / 1024**2:.0f} MiB"


async def test_an_upload_url_that_lapsed_mid_way_is_registered_again(
        stack: CommandStack, tmp_path: Path) -> None:
    stack.sim.lapse_next_uploads = 1
    command = _upload(stack, _file(tmp_path, "late.stl", 50_000))
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert data["succeeded"] is True
    assert stack.requests("/v1/files", "POST") == 2 and stack.requests("/s3/", "PUT") == 2
    record = await stack.log.get(str(command.command_id))
    assert record is not None and record.progress["registrations"] == 2
    assert data["vendor_ids"]["file_uuid"] == record.progress["file_uuid"]  # the second registration's


async def test_a_failed_post_processing_fails_the_command(stack: CommandStack, tmp_path: Path) -> None:
    stack.sim.auto_process_uploads = False
    command = _upload(stack, _file(tmp_path, "bad.obj", 10_000))
    await stack.send(command)
    file_uuid = await _registered(stack, str(command.command_id))
    await stack.sim.finish_processing(file_uuid, success=False)
    data = await stack.result(str(command.command_id))
    assert (data["succeeded"], data["reason"]) == (False, "processing_failed")


@LOCAL_THEN_SLOW_KAFKA
@pytest.mark.parametrize(("case", "status"), [("unknown case", 404), ("duplicate", 409), ("malformed", 400),
                                              ("bad digest", 400)])
async def test_a_documented_registration_error_is_a_failed_command(
        stack: CommandStack, tmp_path: Path, case: str, status: int) -> None:
    path = _file(tmp_path, "x.stl", 1000)
    case_uuid = str(uuid.uuid4()) if case == "unknown case" else stack.sim.create_case().uuid
    if case == "duplicate":
        first = _upload(stack, path, case_uuid)
        await stack.send(first)
        assert (await stack.result(str(first.command_id)))["succeeded"] is True
    if case == "malformed":
        stack.sim.fail_next("/v1/files", status, method="POST")
    if case == "bad digest":  # §3.4.3: the body's MD5 is not the Content-MD5 (S3 400 BadDigest)
        stack.sim.fail_next("/s3/", status, method="PUT")
    command = _upload(stack, path, case_uuid)
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert (data["succeeded"], data["vendor_status"], data["reason"]) == (False, status, "vendor_refused")


@LOCAL_THEN_SLOW_KAFKA
async def test_a_registration_answered_with_500_is_an_unknown_outcome(
        stack: CommandStack, tmp_path: Path) -> None:
    stack.sim.fail_next("/v1/files", 500, method="POST")
    command = _upload(stack, _file(tmp_path, "y.stl", 1000))
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert (data["succeeded"], data["reason"], data["vendor_status"]) == (False, "outcome_unknown", 500)
    assert stack.requests("/s3/", "PUT") == 0


@LOCAL_THEN_SLOW_KAFKA
async def test_a_file_over_the_limit_is_refused_before_anything_is_sent(
        stack: CommandStack, tmp_path: Path) -> None:
    stack.settings.commands.max_upload_bytes = 4096
    command = _upload(stack, _file(tmp_path, "huge.stl", 5000))
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert (data["succeeded"], data["reason"]) == (False, "too_large")
    assert len(await stack.dead_letters()) == 1
    assert stack.requests("/v1/files", "POST") == 0


@LOCAL_THEN_SLOW_KAFKA
async def test_a_source_outside_the_allowed_folders_is_refused(stack: CommandStack, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("not for Medit")
    command = _upload(stack, outside)
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert (data["succeeded"], data["reason"]) == (False, "not_authorized")
    assert stack.requests("/v1/files", "POST") == 0


async def test_an_upload_delivered_twice_registers_once(stack: CommandStack, tmp_path: Path) -> None:
    command = _upload(stack, _file(tmp_path, "twice.stl", 2000))
    await stack.send(command)
    await stack.result(str(command.command_id))
    await stack.send(command)
    await stack.results(str(command.command_id), count=2)
    assert stack.requests("/v1/files", "POST") == 1 and stack.requests("/s3/", "PUT") == 1


async def test_an_upload_interrupted_after_the_put_waits_for_its_callback_without_uploading_again(
        stack: CommandStack, tmp_path: Path) -> None:
    stack.sim.auto_process_uploads = False
    first = _upload(stack, _file(tmp_path, "z.stl", 3000))
    await stack.send(first)
    file_uuid = await _registered(stack, str(first.command_id), uploaded=True)
    record = await stack.log.get(str(first.command_id))
    assert record is not None
    await stack.log.update(record, phase="started")  # as if the executor died before recording the wait
    await stack.send(first)
    await _until(lambda: stack.requests("/v1/cases/", "GET") >= 1)  # the reconciliation read
    await stack.sim.finish_processing(file_uuid)
    data = await stack.result(str(first.command_id))
    assert data["succeeded"] is True
    assert stack.requests("/v1/files", "POST") == 1 and stack.requests("/s3/", "PUT") == 1


async def test_an_unmatched_callback_is_still_accepted_and_kept_verbatim(stack: CommandStack) -> None:
    token = stack.settings.meditlink[0].webhook.token.get_secret_value()
    body = b'{"uuid": "0027931e-bd07-4737-8bb1-0fb12c77d064", "status": "SUCCESS", "extra": [1]}'
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{stack.receiver_url}/hooks/meditlink/{token}", content=body,
                                   headers={"content-type": "application/json"})
    assert answer.status_code == 202
    events = await collect(stack.bus, [stack.topics.inbound, stack.topics.events], lambda got: len(got) >= 2)
    inbound = next(e for e in events if e.type == "inbound.received")
    notified = next(e for e in events if e.type == "scan.notified")
    assert inbound.data == body and notified.json_data()["command_id"] is None


async def _registered(stack: CommandStack, command_id: str, *, uploaded: bool = True) -> str:
    """The file uuid once the executor recorded it (and the upload, with `uploaded`)."""
    async with asyncio.timeout(30):
        while True:
            record = await stack.log.get(command_id)
            if record is not None and "file_uuid" in record.progress and (
                    not uploaded or record.phase == "awaiting_vendor"):
                return str(record.progress["file_uuid"])
            await asyncio.sleep(0.05)


async def _until(condition: object) -> None:
    async with asyncio.timeout(30):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.05)


async def test_an_artifact_of_our_store_is_uploaded_by_its_id(stack: CommandStack, tmp_path: Path) -> None:
    relative = "meditlink/g/1/v/scan_3d/design.stl"
    stored = tmp_path / "artifacts" / relative
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"solid design\n" * 1000)
    artifact_id = str(uuid.uuid4())
    marker = MarkerKey("meditlink", "g", "1", "v", "scan_3d/design.stl")  # what the worker announced
    data = {"artifact_id": artifact_id, "relative_path": relative}
    await stack.ctx.state.markers.put_if_absent(Marker(marker, data, artifact_id=artifact_id))
    case = stack.sim.create_case()
    command = UploadFile(command_id=uuid.uuid4(), connection="clinic-1", case_uuid=case.uuid,
                         source=artifact_id)
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert data["succeeded"] is True and data["result"]["name"] == "design.stl.general.meditMesh"
    found = stack.sim.find_file(data["vendor_ids"]["file_uuid"])
    assert found is not None and found[1].size == stored.stat().st_size


@LOCAL_THEN_SLOW_KAFKA
@pytest.mark.parametrize(("source", "reason"), [
    (str(uuid.uuid4()), "source_unavailable"),  # no such artifact
    ("http://127.0.0.1:1/plain.stl", "not_authorized"),  # https only
    ("https://elsewhere.example/x.stl", "not_authorized"),  # not in commands.upload_hosts
    ("s3://some-bucket/x.stl", "not_authorized"),  # not our store's bucket
    ("ftp://host/x.stl", "source_unavailable"),  # no such scheme (read as an artifact id)
])
async def test_a_source_scanbridge_may_not_read_is_refused(stack: CommandStack, source: str,
                                                           reason: str) -> None:
    case = stack.sim.create_case()
    command = UploadFile(command_id=uuid.uuid4(), connection="clinic-1", case_uuid=case.uuid, source=source)
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert (data["succeeded"], data["reason"]) == (False, reason)
    assert stack.requests("/v1/files", "POST") == 0


async def test_an_upload_whose_callback_was_lost_finishes_when_delivered_again(
        stack: CommandStack, tmp_path: Path) -> None:
    stack.sim.auto_process_uploads = False
    command = _upload(stack, _file(tmp_path, "lost.stl", 4000))
    await stack.send(command)
    file_uuid = await _registered(stack, str(command.command_id))
    stack.sim.registrations[file_uuid].callback_url = "http://127.0.0.1:9/gone"  # the callback never arrives
    await stack.sim.finish_processing(file_uuid)
    await stack.send(command)  # the sender asks again: the case is read, nothing uploaded again
    data = await stack.result(str(command.command_id))
    assert (data["succeeded"], data["reconciled"]) == (True, True)
    assert data["vendor_ids"] == {"file_uuid": file_uuid}
    assert stack.requests("/v1/files", "POST") == 1 and stack.requests("/s3/", "PUT") == 1


async def test_with_patient_fields_dropped_no_file_name_reaches_the_result_or_the_log(
        stack: CommandStack, tmp_path: Path) -> None:
    stack.settings.privacy.patient_fields = "drop"  # a file name may carry a patient's
    command = _upload(stack, _file(tmp_path, "Jane_Doe_crown.stl", 2000))
    await stack.send(command)
    data = await stack.result(str(command.command_id))
    assert data["succeeded"] is True and "name" not in data["result"]
    record = await stack.log.get(str(command.command_id))
    assert record is not None and "Jane" not in str(record.as_json())

