"""The console served on loopback over a real state store and embedded bus; for the browser tests, one
chromium (Debian's package, driven by Playwright) per test session and one stack of simulators, receiver,
worker and poller per module.

Without chromium the browser tests are skipped — except in CI (CI=true), where they fail: `make setup`
installs it (deploy/chromium/chromium.sh check)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bus.base import Bus
from bus.factory import make_bus
from scanbridge.console.app import create_console_app
from scanbridge.console.auth import hash_password
from scanbridge.console.context import Console
from scanbridge.shared import open_state
from schemas.settings import BusSettings, ConsoleAccount, ConsoleSettings, Settings
from state.shared import SharedState
from tests.servers import serve

ADMIN_SECRET = "correct horse battery staple"
VIEWER, VIEWER_PASSWORD = "vera", "viewer-password-1"
VIEWER_HASH = hash_password(VIEWER_PASSWORD)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS_ENV = "SCANBRIDGE_CONSOLE_SCREENSHOTS"  # a folder: the browser tests save each page there


class Clock:
    """The console's clock, moved by tests (session expiry without waiting)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def console_settings(**fields: Any) -> ConsoleSettings:
    return ConsoleSettings(admin_secret=SecretStr(ADMIN_SECRET), accounts=[
        ConsoleAccount(name=VIEWER, role="viewer", password_hash=VIEWER_HASH)], **fields)


@dataclass
class Served:
    url: str
    console: Console
    shared: SharedState
    bus: Bus
    clock: Clock


@asynccontextmanager
async def served_console(settings: Settings, bus: Bus | None = None, **console: Any) -> AsyncIterator[Served]:
    """The console of `settings` on a loopback port, over its state store and (unless given) its own
    embedded bus, with a clock of its own."""
    clock = Clock()
    own = bus is None
    used = bus if bus is not None else make_bus(settings.bus)
    if own:
        await used.ensure_topics(settings.bus.topics.all())
        await used.start()
    try:
        async with open_state(settings, reload=False) as shared:
            app_console = Console(settings, shared, used, clock=clock, **console)
            async with serve(create_console_app(app_console)) as url:
                yield Served(url, app_console, shared, used, clock)
    finally:
        if own:
            await used.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(bus=BusSettings(backend="local", local_path=tmp_path / "bus.sqlite3"),
                    state_dir=tmp_path / "state", console=console_settings())


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[Served]:
    async with served_console(settings) as found:
        yield found


def chromium() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """One headless chromium for the whole test session."""
    path = chromium()
    if path is None:
        message = "chromium not installed: make setup installs it (deploy/chromium/chromium.sh check)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def screenshot(page: Any, name: str) -> None:
    """Save the page as `<name>.png` in the folder named by SCANBRIDGE_CONSOLE_SCREENSHOTS, if set."""
    folder = os.environ.get(SCREENSHOTS_ENV)
    if folder:
        await asyncio.to_thread(Path(folder).mkdir, parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


async def eventually(condition: Any, rounds: int = 1500) -> None:
    """Let other tasks run until `condition()` holds (a bound against hangs, not a timing assertion)."""
    for _ in range(rounds):
        held = condition()
        if held if isinstance(held, bool) else await held:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never held")
