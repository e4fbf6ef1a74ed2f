"""`GET /asyncapi.json` serves the contract for the configured topic names."""

from __future__ import annotations

from pathlib import Path

import httpx

from bus.local import LocalBus
from scanbridge.receiving import create_app
from schemas.asyncapi import document
from schemas.settings import BusSettings, Settings
from schemas.topics import Topics
from tests.servers import serve


async def test_the_receiver_serves_the_asyncapi_document_of_its_topics(tmp_path: Path) -> None:
    topics = Topics(events="clinic.events.v1")
    settings = Settings(bus=BusSettings(topics=topics, local_path=tmp_path / "bus.sqlite3"),
                        state_dir=tmp_path)
    bus = LocalBus(settings.bus.local_path)
    async with serve(create_app(settings, bus)) as url, httpx.AsyncClient(base_url=url) as http:
        answer = await http.get("/asyncapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == document(topics)
    assert answer.json()["channels"]["events"]["address"] == "clinic.events.v1"
