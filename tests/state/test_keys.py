"""Where the credentials key comes from (never the TOML), and what happens without one (README)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from schemas.settings import StateSettings
from state.errors import KeyMissing
from state.factory import make_state_store
from state.seal import Sealer, load_keys

K1 = Fernet.generate_key().decode()
K2 = Fernet.generate_key().decode()


def test_keys_come_from_the_environment_first_then_from_the_secret_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text(f"# newest first\n{K2}\n{K1}\n")
    assert load_keys("KEYS", key_file, {"KEYS": f"{K1}, {K2}"}) == [K1, K2]
    assert load_keys("KEYS", key_file, {}) == [K2, K1]
    assert load_keys("KEYS", None, {}) == []
    with pytest.raises(KeyMissing, match="unreadable"):
        load_keys("KEYS", tmp_path / "missing", {})


def test_a_malformed_key_is_refused_without_repeating_it() -> None:
    with pytest.raises(KeyMissing) as caught:
        Sealer(["not-a-fernet-key-but-a-secret"])
    assert "not-a-fernet-key-but-a-secret" not in str(caught.value)


def test_sealed_text_opens_with_any_configured_key_and_reseals_with_the_newest() -> None:
    old = Sealer([K1]).seal(b"secret")
    rotating = Sealer([K2, K1])
    assert rotating.open(old) == b"secret" and not rotating.is_current(old)
    assert Sealer([K2]).open(rotating.reseal(old)) == b"secret"


def test_a_postgres_store_without_a_shared_key_refuses_to_start() -> None:
    settings = StateSettings(backend="postgres", dsn=SecretStr("postgresql://u:p@127.0.0.1:1/db"))
    with pytest.raises(KeyMissing, match="SCANBRIDGE_CREDENTIALS_KEYS"):
        make_state_store(settings, environ={})
    assert make_state_store(settings, environ={"SCANBRIDGE_CREDENTIALS_KEYS": K1}) is not None
