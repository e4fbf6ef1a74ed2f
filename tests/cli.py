"""Run the `scanbridge` command in tests, pointed at a test's bus and topics."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from scanbridge.cli import app
from schemas.settings import BusSettings


def cli_env(settings: BusSettings, tmp_path: Path) -> dict[str, str | None]:
    """The environment that points the `scanbridge` command at the test's bus and topics."""
    config = tmp_path / "empty.toml"  # a named configuration file must exist; this one sets nothing
    config.touch()
    env: dict[str, str | None] = {"SCANBRIDGE_CONFIG": str(config), "KAFKA_BOOTSTRAP": None}
    if settings.backend == "kafka":
        env["KAFKA_BOOTSTRAP"] = settings.kafka.bootstrap
    else:
        env["SCANBRIDGE_BUS__BACKEND"] = "local"
        env["SCANBRIDGE_BUS__LOCAL_PATH"] = str(settings.local_path)
    for name, topic in settings.topics.model_dump().items():
        env[f"SCANBRIDGE_BUS__TOPICS__{name.upper()}"] = topic
    return env


async def invoke(args: list[str], settings: BusSettings, tmp_path: Path,
                 extra_env: dict[str, str | None] | None = None) -> Result:
    """Run the command in a thread: it runs its own event loop, as it does from a shell."""
    env = {**cli_env(settings, tmp_path), **(extra_env or {})}
    return await asyncio.to_thread(lambda: CliRunner().invoke(app, args, env=env))
