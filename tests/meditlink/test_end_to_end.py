"""Medit Link order → poller → Kafka → worker → order and verified 7z archives on disk, against the
simulator and real Kafka (meditlink-openapi.txt §3.3–3.5)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from bus.deadletter import DeadLetter, read_entries, retry
from consumers.meditlink.oauth import key_of
from schemas.envelope import Envelope
from schemas.topics import (
    ARTIFACT_FAILED,
    ARTIFACT_STORED,
    CONNECTION_REAUTHORIZATION_NEEDED,
    ORDER_COMPLETED,
    ORDER_UPDATED,
    SCAN_NOTIFIED,
)
from simulators.meditlink.archives import HOSTILE_MEMBERS, BuiltArchive, archive_for
from tests.events import collect, of_type, settle
from tests.meditlink.conftest import Stack


async def _order(stack: Stack, http: Any, **case: Any) -> int:
    created = stack.sim.create_case(**case)
    order = stack.sim.create_order(created.uuid)
    assert await stack.poller(http).poll_once() >= 1
    return order.number


def _exists(path: Path) -> bool:
    return path.exists()


def _files(root: Path, pattern: str) -> list[Path]:
    return [p for p in root.rglob(pattern) if p.is_file()]


def _art(events: list[Envelope], event_type: str = ARTIFACT_STORED) -> list[dict[str, Any]]:
    return [e.json_data() for e in of_type(events, event_type)]


async def test_a_polled_order_ends_as_order_updated_and_verified_archives(stack: Stack, worker: object,
                                                                          http: Any) -> None:
    files = [("maxillary.meditMesh", 30_000), ("mandibular.meditMesh", 20_000)]
    number = await _order(stack, http, files=files)
    events = await collect(stack.bus, [stack.topics.events, stack.topics.artifacts],
                           lambda ev: len(_art(ev)) >= 2)
    updated, = of_type(events, ORDER_UPDATED)
    data = updated.json_data()
    assert data["order_id"] == str(number) and data["vendor"] == "meditlink"
    assert data["clinic"]["name"] == "D.Davis" and data["lab"]["name"] == "OneLab"
    assert data["stage"] == "scanned" and data["vendor_status"] == "PENDING/SCAN"
    assert {(t["fdi"], t["universal"]) for t in data["teeth"]} == {(45, 29), (46, 30), (47, 31)}
    assert updated.partitionkey == f"meditlink:{data['account']}:{number}"
    for art in _art(events):
        path = Path(stack.settings.storage.root) / art["relative_path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == art["sha256"]
        assert art["vendor_checksum"]["algorithm"] == "MD5" and art["vendor_checksum"]["verified"] is True
        assert art["file_name"].endswith(".stl.7z") and art["source_host"] == "127.0.0.1"
    assert stack.requests("/v1/me") == 1  # the group uuid is read once and kept


async def test_an_expired_presigned_url_is_replaced_by_a_fresh_one(stack: Stack, worker: object,
                                                                   http: Any) -> None:
    stack.sim.fail_next("/s3/", 403, count=1)
    await _order(stack, http, files=[("maxillary.meditMesh", 10_000)])
    events = await collect(stack.bus, [stack.topics.artifacts], lambda ev: bool(of_type(ev, ORDER_COMPLETED)))
    assert [e.type for e in events] == [ARTIFACT_STORED, ORDER_COMPLETED]
    assert stack.requests("/v1/files/") == 2  # the first URL answered 403: a fresh one was asked for


async def test_an_expired_access_token_is_refreshed_and_the_new_one_kept(stack: Stack, worker: object,
                                                                         http: Any) -> None:
    await _order(stack, http, files=[("maxillary.meditMesh", 10_000)])
    stack.sim.expire_access_tokens()
    number = await _order(stack, http, files=[("mandibular.meditMesh", 10_000)])
    events = await collect(stack.bus, [stack.topics.events, stack.topics.artifacts],
                           lambda ev: any(a["order"]["order_id"] == str(number) for a in _art(ev)))
    assert of_type(events, ORDER_UPDATED)
    assert stack.requests("/oauth/token", "POST") == 2  # the password grant, then one refresh
    saved = await stack.shared.state.credentials.get(key_of(stack.connection))
    assert saved is not None and saved.access_token in stack.sim.access_tokens
    assert stack.sim.refresh_tokens[saved.refresh_token].revoked is False  # the rotated one is kept
    assert stack.sim.refresh_reuse == 0


async def test_a_hostile_archive_is_refused_and_nothing_lands_outside(stack: Stack, worker: object,
                                                                      http: Any) -> None:
    stack.connection.extract = True
    await _order(stack, http, files=[("maxillary.meditMesh", 5_000)], hostile=True)
    events = await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(ev) >= 1)
    failed, = _art(events, ARTIFACT_FAILED)
    assert "unsafe archive member" in failed["reason"]
    root = Path(stack.settings.storage.root)
    assert not _exists(root.parent / "evil.txt") and not _exists(Path(HOSTILE_MEMBERS[1]))
    assert not [p for p in _files(root, "*") if not p.name.startswith(".")]


async def test_an_archive_that_differs_from_the_item_list_is_rejected(stack: Stack, worker: object,
                                                                      http: Any) -> None:
    case = stack.sim.create_case(files=[("maxillary.meditMesh", 5_000)])
    file_uuid = case.files[0].uuid
    listed = archive_for(file_uuid, "maxillary.meditMesh", 5_000, "stl")
    other = archive_for("someone-else", "maxillary.meditMesh", 5_000, "stl")
    key = f"convert-{file_uuid}/{file_uuid}.stl.7z"
    stack.sim.archives[key] = BuiltArchive(other.data, listed.items, listed.download_name)
    stack.sim.create_order(case.uuid)
    await stack.poller(http).poll_once()
    events = await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(ev) >= 1)
    failed, = _art(events, ARTIFACT_FAILED)
    assert "MD5 mismatch" in failed["reason"]
    assert not _files(Path(stack.settings.storage.root), "*.7z")


async def test_a_failed_artifact_is_dead_lettered_and_dlq_retry_stores_it_once_the_vendor_recovers(
        stack: Stack, worker: object, http: Any) -> None:
    case = stack.sim.create_case(files=[("maxillary.meditMesh", 5_000), ("mandibular.meditMesh", 5_000)])
    broken = case.files[0].uuid
    listed = archive_for(broken, "maxillary.meditMesh", 5_000, "stl")
    key = f"convert-{broken}/{broken}.stl.7z"
    other = archive_for("someone-else", "maxillary.meditMesh", 5_000, "stl")
    stack.sim.archives[key] = BuiltArchive(other.data, listed.items, listed.download_name)
    number = stack.sim.create_order(case.uuid).number
    await stack.poller(http).poll_once()
    letters = await collect(stack.bus, [stack.topics.deadletter], lambda ev: len(ev) >= 1)
    letter = DeadLetter.model_validate(letters[0].json_data())
    assert letter.original.type == SCAN_NOTIFIED and letter.original.topic == stack.topics.events
    assert "1 of 2 artifacts" in letter.reason and broken in letter.reason and "MD5 mismatch" in letter.reason
    assert [a.error.split(":")[0] for a in letter.attempts] == ["ArtifactRejected"]  # the artifact's own try
    failed, = _art(await collect(stack.bus, [stack.topics.artifacts],
                                 lambda ev: len(of_type(ev, ARTIFACT_FAILED)) >= 1), ARTIFACT_FAILED)
    assert failed["vendor_ref"] == broken

    stack.sim.archives[key] = listed  # the vendor recovers
    entry, = await read_entries(stack.bus, stack.topics.deadletter)
    await retry(stack.bus, stack.topics.deadletter, entry)  # what `scanbridge dlq retry ID` does
    await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(of_type(ev, ARTIFACT_STORED)) >= 2)
    stored = _art(await settle(stack.bus, [stack.topics.artifacts], quiet_s=1.5))
    assert sorted(a["file_name"] for a in stored) == sorted(f"{f.uuid}.stl.7z" for f in case.files)
    assert {a["order"]["order_id"] for a in stored} == {str(number)}
    assert len(await settle(stack.bus, [stack.topics.deadletter], quiet_s=0.5)) == 2  # the letter, its retry


@pytest.mark.parametrize("connection_options", [{"extract": True, "conversion": "ply"}])
async def test_extraction_unpacks_the_verified_archive_inside_its_folder(stack: Stack, worker: object,
                                                                         http: Any) -> None:
    await _order(stack, http, files=[("maxillary.meditMesh", 8_000)])
    events = await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(ev) >= 1)
    art, = _art(events)
    archive = Path(stack.settings.storage.root) / art["relative_path"]
    unpacked = archive.with_name(archive.name.removesuffix(".7z") + ".d")
    assert [p.name for p in unpacked.iterdir()] == ["maxillary.ply"]


async def test_a_refused_refresh_token_reports_reauthorization_instead_of_crashing(
        stack: Stack, worker: object, http: Any) -> None:
    stack.sim.expire_access_tokens()
    stack.sim.revoke_refresh_tokens()
    case = stack.sim.create_case()
    response = await http.post(stack.hook, json={"caseUuid": case.uuid, "status": "SUCCESS"})
    assert response.status_code == 202
    letters = await collect(stack.bus, [stack.topics.deadletter], lambda ev: len(ev) >= 1)
    assert "invalid_grant" in str(letters[0].model_dump())
    events = await collect(stack.bus, [stack.topics.events],
                           lambda ev: bool(of_type(ev, CONNECTION_REAUTHORIZATION_NEEDED)))
    report, = of_type(events, CONNECTION_REAUTHORIZATION_NEEDED)
    assert report.json_data()["reason"] == "refresh_token_refused"
    assert (await stack.shared.state.connections.health(key_of(stack.connection))).status \
        == "needs_reauthorization"
    record = await stack.shared.state.credentials.get(key_of(stack.connection))
    shown = str(report.model_dump())
    assert record is not None and record.access_token not in shown and record.refresh_token not in shown
