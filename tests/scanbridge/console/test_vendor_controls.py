"""The connection page's vendor controls come from the registered plug-ins (DESIGN.md §11): the console
includes each plug-in's fragment and mounts its routes, and names no vendor itself."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from scanbridge import vendors
from scanbridge.plugin import ConsoleControls
from schemas.settings import Settings
from state.base import ConnectionKey
from tests.scanbridge.console.conftest import ADMIN_SECRET, served_console
from tests.scanbridge.console.test_signin import hidden, sign_in

CONSOLE = Path(__file__).parents[3] / "scanbridge" / "console"
MEDIT = {"id": "lab-9", "client_id": "c", "client_secret": "s", "webhook": {"token": "t" * 32}}


def test_the_console_package_names_no_vendor_module_or_connection_model() -> None:
    vendor_code = re.compile(r"consumers\.(meditlink|itero|threeshape)"
                             r"|(Medit|Itero|Align|ThreeShape)Connection|isinstance\(model")
    found = [f"{p.relative_to(CONSOLE)}: {m[0]}" for p in CONSOLE.rglob("*.py")
             for m in vendor_code.finditer(p.read_text())]
    assert found == []


async def add_medit(client: httpx.AsyncClient) -> str:
    await sign_in(client, "admin", ADMIN_SECRET)
    listing = await client.get("/connections")
    await client.post("/connections/add", data={"csrf": hidden(listing.text), "vendor": "meditlink",
                                                "settings": json.dumps(MEDIT)})
    page = await client.get("/connections/meditlink/lab-9")
    assert page.status_code == 200
    return page.text


async def test_the_page_shows_the_controls_its_vendor_plugin_gives(settings: Settings,
                                                                   tmp_path: Path) -> None:
    fragment = tmp_path / "fragment.html"
    fragment.write_text('<p id="own">{{ greeting }} {{ key.id }}</p>')

    async def hello(request: Request) -> Response:
        return PlainTextResponse(f"hello {request.path_params['id']}")

    async def values(console: object, model: object) -> dict[str, str]:
        return {"greeting": f"client {model.client_id}"}

    own = ConsoleControls(fragment=fragment, values=values,
                          routes=lambda console: [Route("/connections/meditlink/{id}/hello", hello)])
    plugins = [dataclasses.replace(p, console=lambda: own) if p.name == "meditlink" else p
               for p in vendors.VENDORS]
    async with served_console(settings, plugins=plugins) as served, \
            httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        page = await add_medit(client)
        assert '<p id="own">client c lab-9</p>' in page and "Connect Medit Link" not in page
        assert (await client.get("/connections/meditlink/lab-9/hello")).text == "hello lab-9"
        gone = await client.post("/connections/meditlink/lab-9/connect", data={"csrf": hidden(page)})
        assert gone.status_code in (404, 405)

    settings.state_dir = tmp_path / "state-2"
    async with served_console(settings) as served, \
            httpx.AsyncClient(base_url=served.url, timeout=10) as client:  # the registered plug-ins
        page = await add_medit(client)
        assert "Connect Medit Link" in page and 'id="own"' not in page


async def test_an_align_connection_is_paired_on_its_own_vendor_route_only(settings: Settings) -> None:
    align = {"id": "lab-a", "vendor": "align", "webhook": {"token": "w" * 32}, "base_url": "https://x.example",
             "token_url": "https://x.example/token", "access_token": "old-a", "refresh_token": "old-r",
             "poll": False}
    async with served_console(settings) as served, \
            httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        await add_medit(client)
        listing = await client.get("/connections")
        await client.post("/connections/add", data={"csrf": hidden(listing.text), "vendor": "align",
                                                    "settings": json.dumps(align)})
        page = await client.get("/connections/align/lab-a")
        assert 'action="/connections/align/lab-a/pair"' in page.text
        paired = await client.post("/connections/align/lab-a/pair", data={
            "csrf": hidden(page.text), "access_token": "new-a", "refresh_token": "new-r"})
        assert paired.status_code == 303 and paired.headers["location"].startswith("/connections/align/lab-a")
        stored = await served.shared.store.connections.get(ConnectionKey("align", "lab-a"))
        assert stored is not None and stored.settings["access_token"] == "new-a"
        assert stored.settings["vendor"] == "align"
        medit = await client.post("/connections/meditlink/lab-9/pair", data={"csrf": hidden(page.text)})
        assert medit.status_code in (404, 405)
