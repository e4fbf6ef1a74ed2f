"""The 3Shape server check of the Connections page against the Dental Desktop simulator on real HTTPS:
the CA pinned by thumbprint, then GetAvailableClientList (3shape-dental-desktop-pms-integration.txt)."""

from __future__ import annotations

from pathlib import Path

import httpx
from pydantic import SecretStr

from schemas.settings import BusSettings, Settings, ThreeShapeConnection
from simulators.threeshape import DentalDesktopState, create_app, write_tls_files
from tests.scanbridge.console.conftest import ADMIN_SECRET, console_settings, served_console
from tests.scanbridge.console.test_signin import hidden, sign_in
from tests.servers import serve


async def test_the_check_lists_the_clients_and_a_wrong_thumbprint_is_refused(tmp_path: Path) -> None:
    tls = write_tls_files(tmp_path / "tls")
    async with serve(create_app(DentalDesktopState()), ssl_certfile=str(tls.certfile),
                     ssl_keyfile=str(tls.keyfile), timeout_graceful_shutdown=1) as url:
        where = httpx.URL(url)
        pinned = ThreeShapeConnection(id="dd-1", host=where.host, port=where.port, user="Sam",
                                      password=SecretStr("qwerty123"), ca_thumbprint=tls.ca_thumbprint)
        other = pinned.model_copy(update={"id": "dd-2", "ca_thumbprint": "ab" * 20})
        settings = Settings(bus=BusSettings(backend="local", local_path=tmp_path / "bus.sqlite3"),
                            state_dir=tmp_path / "state", console=console_settings(),
                            threeshape=[pinned, other])
        async with served_console(settings) as served, \
                httpx.AsyncClient(base_url=served.url, timeout=20) as client:
            await sign_in(client, "admin", ADMIN_SECRET)
            csrf = hidden((await client.get("/connections/3shape/dd-1")).text)
            good = await client.post("/connections/3shape/dd-1/check", data={"csrf": csrf})
            assert good.status_code == 200
            assert "answered over the pinned TLS connection: 1 client" in good.text
            assert "UA-DTC-VHR" in good.text
            bad = await client.post("/connections/3shape/dd-2/check", data={"csrf": csrf})
            assert bad.status_code == 200 and 'role="alert"' in bad.text and "UA-DTC-VHR" not in bad.text
