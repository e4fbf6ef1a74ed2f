"""The console as a person uses it, in Debian's chromium driven by Playwright: sign in; a failing
connection turns healthy once the simulator recovers; a Medit Link account connects through the
simulator's authorize page; an order is found and its file downloaded; a dead letter is retried; a replay
dry run counts. One stack per module (iTero and Medit Link simulators, receiver, worker, poller, console
on one embedded bus and state store); a fresh browser context (no cookies) per test."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bus.base import Bus
from bus.deadletter import make_dead_letter, read_entries
from bus.factory import make_bus
from bus.replay import Selection, replay_to_topic
from consumers.artifacts.factory import make_store
from consumers.clock import ManualClock, RealClock
from consumers.context import Shared
from consumers.errors import ServerError
from consumers.http import new_client
from consumers.itero import pairing
from consumers.itero.poller import IteroPoller
from scanbridge.console.indexer import run_indexer
from scanbridge.receiving import create_app as create_receiver
from scanbridge.runtime import run_worker
from schemas.envelope import Envelope
from schemas.settings import (
    BusSettings,
    IteroConnection,
    MeditConnection,
    RetrySettings,
    Settings,
    StorageSettings,
    WebhookAuth,
    WorkerSettings,
)
from simulators.itero.app import create_app as create_itero_sim
from simulators.itero.state import IteroSimState
from simulators.meditlink import CLIENT_ID, CLIENT_SECRET, MeditSimState
from simulators.meditlink import create_app as create_medit_sim
from state.base import ConnectionKey, OrderQuery
from state.commandlog import CommandLog, CommandRecord
from tests.scanbridge.console.conftest import (
    ADMIN_SECRET,
    Served,
    console_settings,
    eventually,
    screenshot,
    served_console,
)
from tests.servers import serve

FAST_RETRY = RetrySettings(initial_delay_s=0.05, max_delay_s=0.3, not_ready_for_s=20.0,
                           server_error_for_s=10.0, request_timeout_s=10.0)


@dataclass
class Stack:
    settings: Settings
    itero: IteroSimState
    medit: MeditSimState
    served: Served
    poller: IteroPoller
    bus: Bus

    @property
    def url(self) -> str:
        return self.served.url


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    tmp = tmp_path_factory.mktemp("console")
    itero, medit = IteroSimState(workdir=tmp / "sim"), MeditSimState()
    async with serve(create_itero_sim(itero)) as itero_url, serve(create_medit_sim(medit)) as medit_url:
        access, refresh = itero.issue_tokens()
        settings = Settings(
            bus=BusSettings(backend="local", local_path=tmp / "bus.sqlite3"),
            storage=StorageSettings(root=tmp / "artifacts"), state_dir=tmp / "state",
            worker=WorkerSettings(retry=FAST_RETRY),
            itero=[IteroConnection(id="clinic-1", company_id=str(itero.company_id),
                                   webhook=WebhookAuth(token=secrets.token_urlsafe(32)), base_url=itero_url,
                                   token_url=f"{itero_url}/oauth/token", access_token=access,
                                   refresh_token=refresh)],
            meditlink=[MeditConnection(id="lab-1", webhook=WebhookAuth(token=secrets.token_urlsafe(32)),
                                       auth_url=medit_url, api_url=medit_url, client_id=CLIENT_ID,
                                       client_secret=CLIENT_SECRET)],
            console=console_settings())
        bus = make_bus(settings.bus)
        await bus.ensure_topics(settings.bus.topics.all())
        await bus.start()
        artifacts = make_store(settings.storage, policy=settings.worker.retry, clock=RealClock())
        await artifacts.start(sweep=False)
        stop = asyncio.Event()
        try:
            async with served_console(settings, bus, artifacts=artifacts) as served, \
                    serve(create_receiver(settings, bus, manage_bus=False,
                                          shared=served.shared)) as receiver, new_client(10.0) as http:
                settings.receiver.public_url = receiver
                settings.console.public_url = served.url
                shared = Shared(served.shared.store, served.shared.catalog)
                tasks = [asyncio.create_task(run_worker(settings, bus, stop, shared=shared)),
                         asyncio.create_task(run_indexer(bus, served.shared.store.orders, settings.bus.topics,
                                                         stop))]
                poller = IteroPoller(settings, settings.itero[0], bus, http, clock=ManualClock(),
                                     shared=shared)
                yield Stack(settings, itero, medit, served, poller, bus)
                stop.set()
                await asyncio.gather(*tasks)
        finally:
            await artifacts.close()
            await bus.close()


@pytest.fixture
async def page(browser: Any, stack: Stack) -> AsyncIterator[Any]:
    context = await browser.new_context(base_url=stack.url, viewport={"width": 1200, "height": 800})
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def sign_in(page: Any, name: str = "admin", password: str = ADMIN_SECRET, path: str = "/") -> None:
    await page.goto(path)
    await page.fill("#name", name)
    await page.fill("#password", password)
    await page.click("button[type=submit]")


async def test_an_operator_signs_in_and_sees_the_overview(page: Any, stack: Stack) -> None:
    await page.goto("/")
    assert page.url.endswith("/signin?next=/")
    await screenshot(page, "signin")
    await sign_in(page, "admin", "wrong")
    assert await page.text_content("[role=alert]") == "Wrong name or password."
    await sign_in(page)
    await page.wait_for_selector("h1:text('Overview')")
    assert "admin (admin)" in await page.text_content("header")
    await screenshot(page, "overview")
    await page.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing wider than the screen
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await screenshot(page, "overview-phone")


async def test_a_failing_connection_turns_healthy_after_the_simulator_recovers(page: Any,
                                                                               stack: Stack) -> None:
    stack.itero.fail_next("orders/practice", 503)
    with pytest.raises(ServerError):
        await stack.poller.poll_once()
    await sign_in(page, path="/connections")
    row = page.locator("tr[data-connection='itero/clinic-1']")
    assert await row.locator("td.health").text_content() == "failing"
    assert "503" in await row.text_content()
    await screenshot(page, "connections")
    await stack.poller.poll_once()  # the simulator answers again
    await page.reload()
    assert await row.locator("td.health").text_content() == "ok"
    health = await stack.served.shared.store.connections.health(pairing.key_of(stack.settings.itero[0]))
    assert health.failing_since is None


async def test_a_medit_account_connects_through_the_simulators_authorize_page(page: Any,
                                                                               stack: Stack) -> None:
    key = ConnectionKey("meditlink", "lab-1")
    assert await stack.served.shared.store.credentials.get(key) is None
    await sign_in(page, path="/connections/meditlink/lab-1")
    assert "Not connected yet." in await page.text_content("main")
    await screenshot(page, "connection-meditlink")
    await page.click("#connect-medit")  # → simulator's authorize page → receiver's redirect route → back
    await page.wait_for_url("**/connections/meditlink/lab-1?note=connected")
    assert "Connected." in await page.text_content("main")
    assert await stack.served.shared.store.credentials.get(key) is not None
    actions = [(r.action, r.target) for r in await stack.served.shared.store.audit.recent(5)]
    assert ("meditlink.authorize", "meditlink/lab-1") in actions


async def test_an_order_is_found_and_its_artifact_downloaded(page: Any, stack: Stack) -> None:
    order = stack.itero.add_order(size=20_000)
    await stack.poller.poll_once()
    orders = stack.served.shared.store.orders

    async def indexed() -> bool:
        found = await orders.search(OrderQuery(ident=order.rx_id))
        return bool(found) and found[0].artifacts >= 1 and found[0].stage is not None

    await eventually(indexed)
    await sign_in(page, path="/orders")
    await page.fill("input[name=id]", order.rx_id)
    await page.click("form.filters button[type=submit]")
    await page.click("#orders a")
    await page.wait_for_selector("#timeline")
    assert "order.updated" in await page.text_content("#timeline")
    assert await page.text_content("#patient") and "hidden" in await page.text_content("#patient")
    await screenshot(page, "order")
    link = page.locator("#artifacts a").first
    async with page.expect_download() as waiting:
        await link.click()
    download = await waiting.value
    saved = await asyncio.to_thread(Path(await download.path()).read_bytes)
    key = (await orders.search(OrderQuery(ident=order.rx_id)))[0].key
    summary = next(i for i in await orders.timeline(key) if i.type == "artifact.stored").summary
    assert hashlib.sha256(saved).hexdigest() == summary["sha256"]
    await page.click("#reveal")
    await page.wait_for_selector("#patient:not(:has(#reveal))")
    actions = [r.action for r in await stack.served.shared.store.audit.recent(5)]
    assert "order.reveal_patient" in actions and "artifact.download" in actions


async def test_a_dead_letter_is_retried(page: Any, stack: Stack) -> None:
    topics = stack.settings.bus.topics
    original = Envelope(id="evt-dead-1", source="scanbridge/itero/4242", type="scan.notified",
                        subject="rx-dead", partitionkey="itero:4242:rx-dead", data={"vendor": "itero"})
    await stack.bus.publish(topics.deadletter, make_dead_letter(
        original, "scanbridge.test.v1", "NotReady: the order's files were never ready",
        [(datetime.now(UTC), "404 not ready")]))
    await stack.bus.ensure_topics(["scanbridge.test.v1"])
    await sign_in(page, path="/deadletters")
    row = page.locator("#deadletters tr", has_text="never ready")
    await screenshot(page, "deadletters")
    await row.locator("input[type=checkbox]").check()
    await page.click("#retry")
    await page.wait_for_selector("text=1 retried")
    entries = [e for e in await read_entries(stack.bus, topics.deadletter)
               if e.letter.original.id == "evt-dead-1"]
    assert entries[0].retried == [1]
    assert "never ready" not in await page.text_content("#deadletters")  # retried ones are listed on request


async def test_a_replay_dry_run_counts_the_selected_events(page: Any, stack: Stack) -> None:
    topics = stack.settings.bus.topics
    start = datetime.now(UTC) - timedelta(hours=1)
    expected = await replay_to_topic(stack.bus, [topics.events, topics.artifacts], None,
                                     Selection(start, type="order.updated"), dry_run=True)
    assert expected["order.updated"] >= 1
    await sign_in(page, path="/replay")
    await page.fill("input[name=from]", start.strftime("%Y-%m-%dT%H:%M:%S"))
    await page.fill("input[name=type]", "order.updated")
    await screenshot(page, "replay")
    await page.click("#dry-run")
    await page.wait_for_selector("#total", timeout=30_000)
    assert int(await page.text_content("#total")) == expected["order.updated"]
    await screenshot(page, "replay-dry-run")


async def test_the_commands_page_shows_a_commands_result(page: Any, stack: Stack) -> None:
    log = CommandLog(stack.served.shared.store)
    _, record = await log.claim(CommandRecord(
        command_id="6f1c2d3e-0000-4000-8000-000000000001", type="command.meditlink.upload_file",
        vendor="meditlink", connection="lab-1", subject="case-42", partitionkey="meditlink:lab-1:case-42",
        fingerprint="f"))
    await log.update(record, phase="succeeded", result={"message": "uploaded",
                                                        "vendor_ids": {"file_uuid": "9a8b7c"}})
    await sign_in(page, path="/commands")
    row = page.locator("#commands tr", has_text="case-42")
    assert "succeeded" in await row.text_content() and "file_uuid: 9a8b7c" in await row.text_content()
    await screenshot(page, "commands")
