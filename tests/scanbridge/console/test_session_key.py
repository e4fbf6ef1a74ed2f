"""The key signing the console's session cookies comes from the environment or a secret file (never the
TOML), so a restarted console or a second replica accepts a session the first one issued."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from scanbridge.console.sessions import SESSION_COOKIE
from schemas.settings import Settings
from tests.scanbridge.console.conftest import ADMIN_SECRET, console_settings, served_console
from tests.scanbridge.console.test_signin import sign_in

KEY, OTHER_KEY = "k" * 43, "o" * 43


def with_key(settings: Settings, key: str | None) -> Settings:
    return settings.model_copy(update={"console": console_settings(
        session_key=None if key is None else SecretStr(key))})


async def session_cookie(settings: Settings) -> str:
    async with served_console(settings) as served, httpx.AsyncClient(base_url=served.url, timeout=10) as c:
        await sign_in(c, "admin", ADMIN_SECRET)
        cookie = c.cookies.get(SESSION_COOKIE)
        assert cookie and (await c.get("/connections")).status_code == 200
        return cookie


async def status_with(settings: Settings, cookie: str) -> int:
    async with served_console(settings) as served, httpx.AsyncClient(
            base_url=served.url, timeout=10, cookies={SESSION_COOKIE: cookie}) as client:
        return (await client.get("/connections")).status_code


async def test_a_session_of_one_console_is_accepted_by_another_with_the_same_key_only(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    cookie = await session_cookie(with_key(settings, KEY))
    assert await status_with(with_key(settings, KEY), cookie) == 200  # a restart, or a second replica
    assert await status_with(with_key(settings, OTHER_KEY), cookie) == 303  # → the sign-in form
    with caplog.at_level(logging.WARNING, logger="scanbridge.console.context"):
        assert await status_with(with_key(settings, None), cookie) == 303
    assert "do not survive a restart" in caplog.text and KEY not in caplog.text


def test_the_session_key_comes_from_a_secret_file_never_the_toml(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    (tmp_path / "key").write_text(KEY + "\n")
    monkeypatch.setenv("SCANBRIDGE_CONSOLE__SESSION_KEY_FILE", str(tmp_path / "key"))
    assert Settings().console.session_key == SecretStr(KEY)
    config = tmp_path / "scanbridge.toml"
    config.write_text(f'[console]\nsession_key = "{KEY}"\n')
    monkeypatch.delenv("SCANBRIDGE_CONSOLE__SESSION_KEY_FILE")
    monkeypatch.setenv("SCANBRIDGE_CONFIG", str(config))
    with pytest.raises(ValueError, match=r"console\.session_key must not be in the TOML file"):
        Settings()
    with pytest.raises(ValidationError, match="at least 32"):
        console_settings(session_key=SecretStr("short"))
