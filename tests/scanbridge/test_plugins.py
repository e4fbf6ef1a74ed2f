"""DESIGN.md §11: a fourth vendor is one folder plus one registration line. "acme" (tests/scanbridge/
fakevendor/) is registered here by one line, and receiver, worker, pollers and metrics pick it up."""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from bus.base import Bus
from scanbridge import runtime
from scanbridge import vendors as registry
from scanbridge.plugin import connection_models
from schemas import connections
from schemas.settings import (
    AlignConnection,
    BusSettings,
    IteroConnection,
    MeditConnection,
    OpsSettings,
    ReceiverSettings,
    Settings,
    StorageSettings,
    ThreeShapeConnection,
)
from tests.scanbridge import fakevendor
from tests.tcpgate import free_port


@pytest.fixture
def acme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "VENDORS", [*registry.VENDORS, fakevendor.PLUGIN])  # the one line
    fakevendor.HANDLED.clear()
    fakevendor.POLLS.clear()


def test_the_registered_vendors_are_the_three_of_the_project() -> None:
    assert [p.name for p in registry.VENDORS] == ["itero", "meditlink", "threeshape"]
    assert sorted(v for p in registry.VENDORS for v in p.vendors) == ["3shape", "align", "itero", "meditlink"]


async def _until(condition: Callable[[], bool]) -> None:
    """Wait (bounded by the test timeout) until `condition()` holds."""
    while not condition():
        await asyncio.sleep(0.05)


async def test_a_fourth_vendor_s_route_handler_and_poller_are_picked_up(acme: None, tmp_path: Path,
                                                                        bus_settings: BusSettings,
                                                                        bus: Bus) -> None:
    port = free_port()
    settings = Settings(bus=bus_settings, receiver=ReceiverSettings(port=port), ops=OpsSettings(port=0),
                        storage=StorageSettings(root=tmp_path / "artifacts"), state_dir=tmp_path / "state")
    stop = asyncio.Event()
    running = asyncio.create_task(runtime.run(settings, receiver=True, worker=True, poller=True, stop=stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            while True:
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            refused = await http.post("/hooks/acme/not-the-token-at-all-0000000", json={"order": "x"})
            accepted = await http.post(f"/hooks/acme/{fakevendor.TOKEN}", json={"order": "hooked-1"})
            assert (refused.status_code, accepted.status_code) == (404, 202)
            await _until(lambda: len(fakevendor.HANDLED) >= 2)
            metrics = (await http.get("/metrics")).text
    finally:
        stop.set()
        await running
    assert fakevendor.POLLS == [fakevendor.CONNECTION]
    assert sorted((n.order_id, n.learned_by) for n in fakevendor.HANDLED) == [("hooked-1", "webhook"),
                                                                              ("polled-1", "poll")]
    assert 'scanbridge_webhooks_total{status="202",vendor="acme"}' in metrics


async def test_without_its_registration_line_the_vendor_has_no_route(tmp_path: Path, bus: Bus,
                                                                     bus_settings: BusSettings) -> None:
    from scanbridge.receiving import create_app
    from tests.servers import serve

    settings = Settings(bus=bus_settings, state_dir=tmp_path / "state")
    app = create_app(settings, bus, manage_bus=False)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        answer = await http.post(f"/hooks/acme/{fakevendor.TOKEN}", json={"order": "hooked-1"})
    # the same answer as a wrong token: an unregistered vendor's path tells a caller nothing
    assert (answer.status_code, answer.json()) == (404, {"error": "not_found", "message": "not found"})


ROOT = Path(__file__).resolve().parents[2]
# STYLE.md "What that means here" 1: schemas ← bus ← receiver/consumers/simulators ← scanbridge (state: any)
MAY_IMPORT = {
    "schemas": {"schemas"},
    "bus": {"schemas", "bus"},
    "receiver": {"schemas", "bus", "receiver"},
    "consumers": {"schemas", "bus", "consumers"},
    "simulators": {"schemas", "simulators"},
}
OURS = {"schemas", "bus", "receiver", "consumers", "simulators", "scanbridge", "state", "tests"}


def test_imports_flow_one_way_and_only_the_composition_root_knows_both_sides() -> None:
    wrong: list[str] = []
    for package, allowed in MAY_IMPORT.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                         else [])
                wrong += [f"{path.relative_to(ROOT)}: {name}" for name in names
                          if name.split(".")[0] in OURS - allowed - {"state"}]
    assert wrong == []


def test_connection_models_are_one_union_on_vendor_built_from_the_registered_plugins(acme: None) -> None:
    union = connections.union(connection_models(registry.VENDORS))
    common = {"id": "c", "webhook": {"token": "t" * 32}}
    itero_api = {**common, "base_url": "https://x", "token_url": "https://x/t", "access_token": "a",
                 "refresh_token": "r"}
    assert type(union.validate_python({**itero_api, "vendor": "itero"})) is IteroConnection
    align = union.validate_python({**itero_api, "vendor": "align", "poll_interval_s": 120})
    assert type(align) is AlignConnection and align.orders_url().endswith("/api/third-party/v1/orders/lab")
    assert type(union.validate_python({**common, "vendor": "meditlink", "client_id": "i",
                                       "client_secret": "s"})) is MeditConnection
    assert type(union.validate_python({"vendor": "3shape", "id": "dd", "host": "h", "user": "u",
                                       "password": "p"})) is ThreeShapeConnection
    assert type(union.validate_python({"vendor": "acme"})) is fakevendor.AcmeConnection  # the fourth
    with pytest.raises(ValidationError, match="registered vendor"):
        union.validate_python({**common, "vendor": "dentsply"})
    with pytest.raises(ValidationError, match="at least 120"):  # Align's floor, in its own model
        union.validate_python({**itero_api, "vendor": "align", "poll_interval_s": 60})


def test_itero_settings_entries_are_itero_or_align_by_their_vendor() -> None:
    entry = {"id": "c", "webhook": {"token": "t" * 32}, "base_url": "https://x", "token_url": "https://x/t",
             "access_token": "a", "refresh_token": "r"}
    settings = Settings(itero=[entry, {**entry, "id": "lab", "vendor": "align", "poll_interval_s": 300}])
    assert [type(c) for c in settings.itero] == [IteroConnection, AlignConnection]
