"""Sign-in, sessions, CSRF and roles of the console, over HTTP on loopback (the browser tests drive the
same pages in chromium)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from jsonschema import validate
from pydantic import SecretStr

from bus.replay import scan
from consumers.threeshape.watchlist import WatchList
from schemas.events import OperatorAction
from schemas.published import published_schema
from schemas.settings import BusSettings, Settings, ThreeShapeConnection
from state.base import ConnectionKey
from state.commandlog import CommandLog, CommandRecord
from tests.scanbridge.console.conftest import (
    ADMIN_SECRET,
    VIEWER,
    VIEWER_PASSWORD,
    Served,
    console_settings,
    served_console,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def hidden(html: str, name: str = "csrf") -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} field"
    return found[1]


async def sign_in(client: httpx.AsyncClient, name: str, password: str,
                  next_path: str = "/") -> httpx.Response:
    form = await client.get(f"/signin?next={next_path}")
    return await client.post("/signin", data={"csrf": hidden(form.text), "name": name, "password": password,
                                              "next": next_path})


@pytest.fixture
async def client(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as http:
        yield http


async def test_a_page_without_a_session_sends_the_browser_to_the_sign_in_form(
        client: httpx.AsyncClient) -> None:
    answer = await client.get("/connections")
    assert answer.status_code == 303 and answer.headers["location"] == "/signin?next=/connections"


async def test_the_admin_secret_signs_in_with_a_signed_httponly_lax_cookie(client: httpx.AsyncClient,
                                                                         served: Served) -> None:
    answer = await sign_in(client, "admin", ADMIN_SECRET, "/connections")
    assert answer.status_code == 303 and answer.headers["location"] == "/connections"
    cookie = answer.headers["set-cookie"].lower()
    assert "sb_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    page = await client.get("/connections")
    assert page.status_code == 200 and "admin (admin)" in page.text
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    actions = [(r.actor, r.action) for r in await served.shared.store.audit.recent()]
    assert ("admin", "sign_in") in actions
    topic = served.console.settings.bus.topics.events
    published = [d.event async for d in scan(served.bus, [topic], EPOCH)]
    assert [(e.type, e.json_data()["actor"], e.json_data()["action"]) for e in published] == [
        ("operator.action", "admin", "sign_in")]
    validate(published[0].json_data(), published_schema("operator.action", OperatorAction))


async def test_a_wrong_password_is_refused_and_audited(client: httpx.AsyncClient, served: Served) -> None:
    answer = await sign_in(client, "admin", "not the secret")
    assert answer.status_code == 401 and "Wrong name or password." in answer.text
    assert "sb_session" not in answer.headers.get("set-cookie", "")
    assert (await client.get("/")).status_code == 303
    unknown = await sign_in(client, "nobody", "whatever")
    assert unknown.status_code == 401 and "Wrong name or password." in unknown.text
    assert [r.action for r in await served.shared.store.audit.recent()][:2] == ["sign_in.failed"] * 2


async def test_sign_in_pauses_after_too_many_failures_even_with_the_right_password(
        client: httpx.AsyncClient, served: Served) -> None:
    for _ in range(served.console.settings.console.sign_in_attempts):
        assert (await sign_in(client, VIEWER, "guess")).status_code == 401
    refused = await sign_in(client, VIEWER, VIEWER_PASSWORD)
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
    served.clock.now += served.console.settings.console.sign_in_window_s + 1
    assert (await sign_in(client, VIEWER, VIEWER_PASSWORD)).status_code == 303


async def test_a_sign_in_without_its_form_token_is_refused(client: httpx.AsyncClient) -> None:
    await client.get("/signin")
    answer = await client.post("/signin", data={"csrf": "forged", "name": "admin", "password": ADMIN_SECRET})
    assert answer.status_code == 403 and "sb_session" not in answer.headers.get("set-cookie", "")


async def test_a_form_without_the_sessions_csrf_token_changes_nothing(client: httpx.AsyncClient,
                                                                    served: Served) -> None:
    await sign_in(client, "admin", ADMIN_SECRET)
    body = {"vendor": "meditlink", "settings": '{"id": "lab-9", "client_id": "c", "client_secret": "s", '
                                               '"webhook": {"token": "' + "t" * 32 + '"}}'}
    for token in (None, "forged"):
        answer = await client.post("/connections/add", data={**body, **({"csrf": token} if token else {})})
        assert answer.status_code == 403 and "CSRF" in answer.text
    assert await served.shared.store.connections.get(ConnectionKey("meditlink", "lab-9")) is None
    page = await client.get("/connections")
    answer = await client.post("/connections/add", data={**body, "csrf": hidden(page.text)})
    assert answer.status_code == 303
    assert await served.shared.store.connections.get(ConnectionKey("meditlink", "lab-9")) is not None


async def test_an_expired_session_is_sent_back_to_the_sign_in_form(client: httpx.AsyncClient,
                                                                  served: Served) -> None:
    await sign_in(client, "admin", ADMIN_SECRET)
    assert (await client.get("/orders")).status_code == 200
    served.clock.now += served.console.settings.console.session_ttl_s + 1
    answer = await client.get("/orders")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")


async def test_a_viewer_reads_but_an_admin_action_is_refused_and_audited(client: httpx.AsyncClient,
                                                                       served: Served) -> None:
    await sign_in(client, VIEWER, VIEWER_PASSWORD)
    page = await client.get("/connections")
    assert page.status_code == 200 and "Add a connection" not in page.text
    answer = await client.post("/deadletters/retry", data={"csrf": hidden(page.text), "id": "x"})
    assert answer.status_code == 403 and "admin role" in answer.text
    refused = (await served.shared.store.audit.recent(1))[0]
    assert (refused.actor, refused.action, refused.target) == (VIEWER, "refused", "/deadletters/retry")


async def test_after_sign_in_the_browser_only_goes_to_a_page_of_the_console(
        client: httpx.AsyncClient) -> None:
    answer = await sign_in(client, "admin", ADMIN_SECRET, "//evil.example/")
    assert answer.headers["location"] == "/"


def test_an_account_needs_an_argon2_hash(settings: Settings) -> None:
    with pytest.raises(ValueError, match="argon2"):
        settings.console.accounts[0].model_validate({"name": "x", "password_hash": "plain"})


async def test_an_edit_keeps_the_masked_secrets_and_changes_the_rest(client: httpx.AsyncClient,
                                                                     served: Served) -> None:
    key = ConnectionKey("meditlink", "lab-9")
    await sign_in(client, "admin", ADMIN_SECRET)
    page = await client.get("/connections")
    settings = {"id": "lab-9", "client_id": "c", "client_secret": "the-secret",
                "webhook": {"token": "t" * 32}}
    await client.post("/connections/add", data={"csrf": hidden(page.text), "vendor": "meditlink",
                                                "settings": json.dumps(settings)})
    detail = await client.get("/connections/meditlink/lab-9")
    assert "the-secret" not in detail.text and "t" * 32 not in detail.text
    shown = json.loads(html.unescape(re.search(r'<textarea name="settings">(.*?)</textarea>', detail.text,
                                               re.S)[1]))  # type: ignore[index]
    shown["client_id"] = "c2"
    answer = await client.post("/connections/meditlink/lab-9/edit",
                               data={"csrf": hidden(detail.text), "settings": json.dumps(shown)})
    assert answer.status_code == 303
    stored = await served.shared.store.connections.get(key)
    assert stored is not None and stored.settings["client_id"] == "c2"
    assert stored.settings["client_secret"] == "the-secret"
    assert stored.settings["webhook"]["token"] == "t" * 32
    removed = await client.post("/connections/meditlink/lab-9/remove", data={"csrf": hidden(detail.text)})
    assert removed.status_code == 303 and await served.shared.store.connections.get(key) is None


async def test_3shape_watched_patients_are_added_and_removed_from_the_page(tmp_path: Path) -> None:
    conn = ThreeShapeConnection(id="dd-1", host="dd.example", user="u", password=SecretStr("p"),
                                ca_thumbprint="737842e3" + "0" * 32, patients=["P-1"])
    settings = Settings(bus=BusSettings(backend="local", local_path=tmp_path / "bus.sqlite3"),
                        state_dir=tmp_path / "state", console=console_settings(), threeshape=[conn])
    async with served_console(settings) as served, \
            httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        await sign_in(client, "admin", ADMIN_SECRET)
        page = await client.get("/connections/3shape/dd-1")
        assert page.status_code == 200 and "P-1" in page.text
        csrf = hidden(page.text)
        await client.post("/connections/3shape/dd-1/patients", data={"csrf": csrf, "ids": "P-2 P-3",
                                                                      "action": "watch"})
        await client.post("/connections/3shape/dd-1/patients", data={"csrf": csrf, "ids": "P-1",
                                                                      "action": "unwatch"})
        assert await WatchList(served.shared.store, conn).ids() == ["P-2", "P-3"]
        assert ("threeshape.unwatch", "3shape/dd-1") in [
            (r.action, r.target) for r in await served.shared.store.audit.recent(3)]


async def test_the_commands_page_lists_the_command_log_newest_first_with_results(
        client: httpx.AsyncClient, served: Served) -> None:
    log = CommandLog(served.shared.store)
    for n in (1, 2):
        await log.claim(CommandRecord(command_id=f"cmd-{n}", type="command.meditlink.accept_order",
                                      vendor="meditlink", connection="lab-1", subject=f"order-{n}",
                                      partitionkey=f"meditlink:lab-1:order-{n}", fingerprint="f"))
    _, first = await log.claim(CommandRecord(command_id="cmd-1", type="", vendor="", connection="",
                                             subject="", partitionkey="", fingerprint=""))
    await log.update(first, phase="failed", result={"reason": "vendor_refused", "message": "order is closed",
                                                    "vendor_status": 409})
    await sign_in(client, VIEWER, VIEWER_PASSWORD)
    page = await client.get("/commands")
    assert page.status_code == 200
    assert page.text.index("cmd-1") < page.text.index("cmd-2")  # changed last, listed first
    assert "vendor_refused: order is closed" in page.text and "(vendor 409)" in page.text
    failed = await client.get("/commands?phase=failed")
    assert "cmd-1" in failed.text and "cmd-2" not in failed.text
