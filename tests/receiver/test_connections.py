"""The receiver's connections come from the state store: one added at run time is accepted within
`state.reload_s`, one removed is refused, and while the store does not answer the known ones still are."""

from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path

import httpx

from bus.kafka import KafkaBus
from scanbridge.receiving import create_app
from scanbridge.shared import open_state
from schemas import connections
from schemas.settings import BusSettings, IteroConnection, KafkaSettings, Settings, StateSettings, WebhookAuth
from schemas.topics import SCAN_NOTIFIED, Topics
from state.base import Connection, ConnectionKey
from tests.events import collect, of_type
from tests.itero.conftest import eventually
from tests.servers import serve

JSON = {"content-type": "application/json"}


def _connection(id_: str, token: str) -> IteroConnection:
    return IteroConnection(id=id_, company_id="4242", webhook=WebhookAuth(token=token), base_url="http://x",
                           token_url="http://x/t", access_token="a", refresh_token="r")


def _settings(tmp_path: Path, kafka: KafkaSettings, topics: Topics, *toml: IteroConnection) -> Settings:
    state = StateSettings(path=tmp_path / "state" / "state.sqlite3", reload_s=0.1)
    bus = BusSettings(backend="kafka", kafka=kafka, topics=topics)
    return Settings(bus=bus, state_dir=tmp_path / "state", state=state, itero=list(toml))


async def _notify(http: httpx.AsyncClient, token: str) -> int:
    body = json.dumps({"Id": str(uuid.uuid4()), "CompanyId": 4242}).encode()
    return (await http.post(f"/hooks/itero/{token}", content=body, headers=JSON)).status_code


async def test_a_connection_added_or_removed_at_run_time_is_seen_without_a_restart(
    tmp_path: Path, kafka_settings: KafkaSettings, topics: Topics, kafka_bus: KafkaBus,
) -> None:
    seeded, added = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    settings = _settings(tmp_path, kafka_settings, topics, _connection("c1", seeded))
    app = create_app(settings, kafka_bus, manage_bus=False)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http, \
            open_state(settings, reload=False) as operator:  # e.g. `scanbridge connections add` elsewhere
        assert await _notify(http, seeded) == 202 and await _notify(http, added) == 404
        key = ConnectionKey("itero", "c2")
        await operator.store.connections.put(Connection(key, connections.revealed(_connection("c2", added))))

        async def accepted() -> bool:
            return await _notify(http, added) == 202

        await eventually(accepted)
        await operator.store.connections.remove(key)

        async def refused() -> bool:
            return await _notify(http, added) == 404

        await eventually(refused)
    events = await collect(kafka_bus, [topics.events], lambda ev: len(of_type(ev, SCAN_NOTIFIED)) >= 2)
    assert {e.json_data()["connection"] for e in of_type(events, SCAN_NOTIFIED)} == {"c1", "c2"}


async def test_while_the_state_store_is_down_known_connections_are_still_accepted(
    tmp_path: Path, kafka_settings: KafkaSettings, topics: Topics, kafka_bus: KafkaBus,
) -> None:
    token = secrets.token_urlsafe(32)
    settings = _settings(tmp_path, kafka_settings, topics, _connection("c1", token))
    async with open_state(settings) as shared:
        app = create_app(settings, kafka_bus, manage_bus=False, shared=shared)
        async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
            await shared.store.close()  # the store goes away
            assert await _notify(http, token) == 202
            assert await _notify(http, "x" * 43) == 404
            assert shared.catalog.get("itero", "c1") is not None
