"""The state-cost benchmark's runs without a store (bench/statecost.py), as `make bench` starts them."""

from __future__ import annotations

import secrets
from pathlib import Path

from bench import statecost


async def test_the_webhook_run_without_a_store_answers_every_webhook(tmp_path: Path) -> None:
    """Before: it crashed at the first webhook (the iTero route read command links of no store)."""
    token = secrets.token_urlsafe(32)
    settings = statecost._settings(tmp_path, "none", None, token)
    assert await statecost.webhooks(settings, "none", 5, token) > 0  # it asserts each answer is a 202


async def test_the_artifact_run_without_a_store_stores_every_artifact(tmp_path: Path) -> None:
    settings = statecost._settings(tmp_path, "none", None, secrets.token_urlsafe(32))
    assert await statecost.artifacts(settings, "none", 2, tmp_path) > 0
    assert len(list((tmp_path / "artifacts").rglob("*.zip"))) == 2 * 12  # with the 10 of the warm-up
