"""The iTero notification route: what it accepts, what it refuses, and that refusals publish nothing."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bus.kafka import KafkaBus
from receiver.auth import sign
from scanbridge.receiving import create_app
from schemas.settings import BusSettings, IteroConnection, KafkaSettings, Settings, WebhookAuth
from schemas.topics import INBOUND_RECEIVED, SCAN_NOTIFIED, Topics
from tests.events import collect, settle
from tests.servers import serve

TOKEN = secrets.token_urlsafe(32)
SIGNED_TOKEN = secrets.token_urlsafe(32)
HMAC_SECRET = "a-shared-hmac-secret"


def _settings(topics: Topics, kafka: KafkaSettings, tmp_path: Path) -> Settings:
    common = {
        "base_url": "http://127.0.0.1:1",
        "token_url": "http://127.0.0.1:1/t",
        "access_token": "a",
        "refresh_token": "r",
    }
    return Settings(
        bus=BusSettings(backend="kafka", kafka=kafka, topics=topics),
        state_dir=tmp_path,
        itero=[
            IteroConnection(id="c1", company_id="4242", webhook=WebhookAuth(token=TOKEN), **common),
            IteroConnection(
                id="c2", webhook=WebhookAuth(token=SIGNED_TOKEN, hmac_secret=HMAC_SECRET), **common
            ),
        ],
    )


@pytest.fixture
async def client(
    topics: Topics, kafka_settings: KafkaSettings, kafka_bus: KafkaBus, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(_settings(topics, kafka_settings, tmp_path), kafka_bus, manage_bus=False)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


def _body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


JSON = {"content-type": "application/json"}


async def test_a_valid_notification_is_published_and_answered_202(
    client: httpx.AsyncClient, kafka_bus: KafkaBus, topics: Topics
) -> None:
    rx = str(uuid.uuid4())
    response = await client.post(f"/hooks/itero/{TOKEN}", content=_body(Id=rx, CompanyId=4242), headers=JSON)
    assert response.status_code == 202
    events = await collect(kafka_bus, [topics.events, topics.inbound], lambda ev: len(ev) >= 2)
    assert {e.type for e in events} == {SCAN_NOTIFIED, INBOUND_RECEIVED}


@pytest.mark.parametrize(
    "body",
    [
        {"id": "RX", "companyid": "4242"},  # lower case, number as a string
        {"ID": "RX", "COMPANYID": 4242, "Extra": {"nested": True}},  # upper case, an extra field
        {"Id": "{RX}", "CompanyId": 4242.0},
    ],
)
async def test_field_names_in_any_case_numbers_as_strings_and_extras_are_accepted(
    client: httpx.AsyncClient, kafka_bus: KafkaBus, topics: Topics, body: dict[str, object]
) -> None:
    rx = str(uuid.uuid4())
    raw = json.dumps(body).replace("RX", rx).encode()
    response = await client.post(f"/hooks/itero/{TOKEN}", content=raw, headers=JSON)
    assert response.status_code == 202, response.text
    events = await collect(kafka_bus, [topics.events], lambda ev: len(ev) >= 1)
    assert events[0].json_data()["rx_id"] == rx and events[0].json_data()["account"] == "4242"


@pytest.mark.parametrize(
    ("path", "content", "headers", "status", "code"),
    [
        ("/hooks/itero/wrong-token-wrong-token-wrong", _body(Id=str(uuid.uuid4())), JSON, 404, "not_found"),
        ("/hooks/itero/", _body(Id=str(uuid.uuid4())), JSON, 404, None),
        (f"/hooks/align/{TOKEN}", _body(Id=str(uuid.uuid4())), JSON, 404, "not_found"),
        (f"/hooks/itero/{TOKEN}", b"{not json", JSON, 400, "malformed_json"),
        (f"/hooks/itero/{TOKEN}", b"[1, 2]", JSON, 422, "invalid_body"),
        (f"/hooks/itero/{TOKEN}", _body(CompanyId=4242), JSON, 422, "invalid_body"),
        (f"/hooks/itero/{TOKEN}", _body(Id="not-a-guid", CompanyId=4242), JSON, 422, "invalid_body"),
        (f"/hooks/itero/{TOKEN}", _body(Id=12345), JSON, 422, "invalid_body"),
        (f"/hooks/itero/{TOKEN}", _body(Id=str(uuid.uuid4()), CompanyId="abc"), JSON, 422, "invalid_body"),
        (f"/hooks/itero/{TOKEN}", _body(Id=str(uuid.uuid4()), CompanyId=999), JSON, 422, "unknown_account"),
        (
            f"/hooks/itero/{TOKEN}",
            _body(Id=str(uuid.uuid4())),
            {"content-type": "text/plain"},
            415,
            "unsupported_media_type",
        ),
        (f"/hooks/itero/{TOKEN}", b'{"Id": "' + b"x" * 70_000 + b'"}', JSON, 413, "too_large"),
        (f"/hooks/itero/{SIGNED_TOKEN}", _body(Id=str(uuid.uuid4())), JSON, 401, "unauthorized"),
        (
            f"/hooks/itero/{SIGNED_TOKEN}",
            _body(Id=str(uuid.uuid4())),
            {**JSON, "x-scanbridge-signature": "sha256=00"},
            401,
            "unauthorized",
        ),
    ],
)
async def test_bad_input_gets_a_clear_4xx_json_error_and_publishes_nothing(
    client: httpx.AsyncClient,
    kafka_bus: KafkaBus,
    topics: Topics,
    path: str,
    content: bytes,
    headers: dict[str, str],
    status: int,
    code: str | None,
) -> None:
    response = await client.post(path, content=content, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    if code:
        assert response.json()["error"] == code
    assert TOKEN not in response.text and SIGNED_TOKEN not in response.text
    assert await settle(kafka_bus, [topics.events, topics.inbound], quiet_s=0.8) == []


async def test_an_oversized_body_without_content_length_is_refused(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    response = await client.post(f"/hooks/itero/{TOKEN}", content=chunks(), headers=JSON)
    assert response.status_code == 413


async def test_a_correctly_signed_notification_is_accepted(client: httpx.AsyncClient) -> None:
    raw = _body(Id=str(uuid.uuid4()), CompanyId=1)
    headers = {**JSON, "x-scanbridge-signature": f"sha256=00 {sign(HMAC_SECRET, raw)}"}  # rotation: 2 values
    response = await client.post(f"/hooks/itero/{SIGNED_TOKEN}", content=raw, headers=headers)
    assert response.status_code == 202


async def test_kafka_unreachable_gives_the_vendor_a_5xx_never_a_2xx(topics: Topics, tmp_path: Path) -> None:
    dead = KafkaSettings(bootstrap="127.0.0.1:1", ack_timeout_s=2.0)
    bus = KafkaBus(dead)
    app = create_app(_settings(topics, dead, tmp_path), bus)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        response = await http.post(f"/hooks/itero/{TOKEN}", content=_body(Id=str(uuid.uuid4())), headers=JSON)
        assert response.status_code == 503
        assert response.json()["error"] == "unavailable"
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert (await http.get("/healthz")).status_code == 200


async def test_readyz_is_ready_with_a_live_bus(client: httpx.AsyncClient) -> None:
    assert (await client.get("/readyz")).status_code == 200


async def test_metrics_count_webhooks_by_vendor_and_status_without_tokens(client: httpx.AsyncClient) -> None:
    await client.post(f"/hooks/itero/{TOKEN}", content=b"{bad", headers=JSON)
    text = (await client.get("/metrics")).text
    assert 'scanbridge_webhooks_total{status="400",vendor="itero"}' in text
    assert TOKEN not in text


async def test_with_a_spool_kafka_unreachable_gives_202_and_the_event_reaches_kafka_later(
    topics: Topics, kafka_settings: KafkaSettings, kafka_bus: KafkaBus, tmp_path: Path
) -> None:
    from bus.local import LocalBus
    from bus.spool import SpoolingBus

    spool_file = tmp_path / "spool.sqlite3"
    dead = KafkaSettings(bootstrap="127.0.0.1:1", ack_timeout_s=1.0)
    down = SpoolingBus(KafkaBus(dead), LocalBus(spool_file))
    rx = str(uuid.uuid4())
    async with (
        serve(create_app(_settings(topics, dead, tmp_path), down)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        response = await http.post(
            f"/hooks/itero/{TOKEN}", content=_body(Id=rx, CompanyId=4242), headers=JSON
        )
        assert response.status_code == 202
    back = SpoolingBus(KafkaBus(kafka_settings), LocalBus(spool_file))  # the receiver restarted, Kafka is up
    await back.start()
    try:
        events = await collect(kafka_bus, [topics.events], lambda ev: len(ev) >= 1)
        assert events[0].json_data()["rx_id"] == rx
    finally:
        await back.close()


async def test_an_upper_case_guid_is_named_in_its_one_spelling_and_kept_as_written_in_the_inbound_record(
    client: httpx.AsyncClient, kafka_bus: KafkaBus, topics: Topics
) -> None:
    rx = str(uuid.uuid4()).upper()
    response = await client.post(f"/hooks/itero/{TOKEN}", content=_body(Id=rx, CompanyId=4242), headers=JSON)
    assert response.status_code == 202
    events = await collect(kafka_bus, [topics.events, topics.inbound], lambda ev: len(ev) >= 2)
    notified, = (e for e in events if e.type == SCAN_NOTIFIED)
    assert notified.json_data()["rx_id"] == notified.subject == rx.lower()
    inbound, = (e for e in events if e.type == INBOUND_RECEIVED)
    assert rx in bytes(inbound.data).decode()


async def test_a_notification_the_bus_refuses_for_its_size_gets_413_not_500(
    topics: Topics, kafka_settings: KafkaSettings, kafka_bus: KafkaBus, tmp_path: Path
) -> None:
    """Before: the refusal was "bus unavailable", 503 with Retry-After, so the vendor retried for ever
    something that can never be stored; EventTooLarge without a handler would be a 500."""
    from tests.kafka_broker import create_limited_topic

    limited = topics.model_copy(update={"inbound": f"{topics.inbound}.small"})
    await create_limited_topic(kafka_settings.bootstrap, limited.inbound, 2_000)
    plain = KafkaBus(kafka_settings.model_copy(update={"compression": None}))
    await plain.start()
    app = create_app(_settings(limited, kafka_settings, tmp_path), plain, manage_bus=False)
    try:
        async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
            body = _body(Id=str(uuid.uuid4()), CompanyId=4242, Extra="x" * 10_000)
            response = await http.post(f"/hooks/itero/{TOKEN}", content=body, headers=JSON)
    finally:
        await plain.close()
    assert response.status_code == 413 and response.json()["error"] == "too_large"
