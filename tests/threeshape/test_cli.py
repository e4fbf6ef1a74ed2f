"""`scanbridge threeshape watch|unwatch|list|clients` against a configuration file and the simulator."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from consumers.threeshape.watchlist import WatchList
from scanbridge.cli import app
from schemas.settings import ThreeShapeConnection
from simulators.threeshape import make_authority
from tests.shared import state_store
from tests.threeshape.conftest import Server


def _config(tmp_path: Path, server: Server, **overrides: str) -> dict[str, str]:
    fields = {"id": "clinic-1", "host": "127.0.0.1", "port": server.url.rsplit(":", 1)[1], "user": "Sam",
              "password": "qwerty123", "ca_thumbprint": server.tls.ca_thumbprint} | overrides
    lines = [f'state_dir = "{tmp_path / "state"}"', "", "[[threeshape]]"]
    lines += [f"{k} = {v}" if k == "port" else f'{k} = "{v}"' for k, v in fields.items()]
    lines.append('patients = ["123"]')
    path = tmp_path / "scanbridge.toml"
    path.write_text("\n".join(lines) + "\n")
    return {"SCANBRIDGE_CONFIG": str(path)}


async def _run(env: dict[str, str], *args: str) -> Result:
    return await asyncio.to_thread(lambda: CliRunner().invoke(app, ["threeshape", *args], env=env))


async def test_watch_unwatch_and_list_change_the_persisted_watch_set(tmp_path: Path, server: Server) -> None:
    env = _config(tmp_path, server)
    added = await _run(env, "watch", "clinic-1", "456", "789", "123")
    assert added.exit_code == 0 and "2 patient(s) added" in added.output
    removed = await _run(env, "unwatch", "clinic-1", "123", "789")
    assert removed.exit_code == 0 and "2 patient(s) no longer watched" in removed.output
    listed = await _run(env, "list", "clinic-1", "--json")
    assert [json.loads(line)["integration_id"] for line in listed.output.splitlines()] == ["456"]
    assert not (tmp_path / "state" / "threeshape").exists()  # the watch set is in the state store
    assert (await _run(env, "watch", "no-such-server", "1")).exit_code == 2


async def test_clients_lists_the_connected_dental_desktop_clients(tmp_path: Path, server: Server) -> None:
    result = await _run(_config(tmp_path, server), "clients", "clinic-1", "--json")
    assert result.exit_code == 0, result.output
    (client,) = [json.loads(line) for line in result.output.splitlines()]
    assert client["hostname"] == "UA-DTC-VHR" and client["modules"] == ["ThreeShape.TRIOS"]


async def test_clients_refuses_a_server_under_another_ca_without_sending_credentials(
    tmp_path: Path, server: Server
) -> None:
    env = _config(tmp_path, server, ca_thumbprint=make_authority().thumbprint)
    result = await _run(env, "clients", "clinic-1")
    assert result.exit_code == 1 and "UntrustedServer" in result.output
    assert server.state.requests == []


async def test_configured_patients_can_be_unwatched_and_watched_again(tmp_path: Path) -> None:
    connection = ThreeShapeConnection(id="c", host="h", user="u", password="p", patients=["1", "2"])
    async with state_store(tmp_path) as store:
        watchlist = WatchList(store, connection)
        assert await watchlist.unwatch(["1", "3"]) == ["1"]
        assert await watchlist.ids() == ["2"]
        assert await watchlist.watch(["1", "4"]) == ["1", "4"]
        assert await WatchList(store, connection).ids() == ["1", "2", "4"]  # another process sees the same
