"""`bus.kafka` settings: consistent security options, secrets from files, never a secret in an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.kafkaconfig import KafkaSettings


def _error(**fields: object) -> str:
    with pytest.raises(ValidationError) as raised:
        KafkaSettings.model_validate(fields)
    return str(raised.value)


def test_sasl_without_credentials_names_what_is_missing() -> None:
    message = _error(security_protocol="SASL_SSL")
    assert "SASL_SSL needs sasl_mechanism, sasl_username, sasl_password" in message


def test_sasl_settings_on_a_plaintext_protocol_are_refused() -> None:
    message = _error(sasl_mechanism="PLAIN", sasl_username="u", sasl_password="hunter2-secret")
    assert "use SASL_SSL" in message and "hunter2" not in message


def test_tls_files_on_a_plaintext_protocol_and_missing_files_are_refused(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert "use SSL or SASL_SSL" in _error(ssl_cafile=str(ca))
    assert "is not a file" in _error(security_protocol="SSL", ssl_cafile=str(tmp_path / "absent.pem"))


def test_unknown_protocols_mechanisms_and_keys_are_refused() -> None:
    assert "security_protocol" in _error(security_protocol="TLS")
    assert "sasl_mechanism" in _error(security_protocol="SASL_SSL", sasl_mechanism="GSSAPI",
                                      sasl_username="u", sasl_password="p")
    assert "Extra inputs are not permitted" in _error(securty_protocol="SSL")


def test_the_password_comes_from_a_file_stripped_of_its_newline(tmp_path: Path) -> None:
    secret = tmp_path / "kafka-password"
    secret.write_text("s3cret-value\n")
    settings = KafkaSettings.model_validate({
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "scanbridge", "sasl_password_file": str(secret),
    })
    assert settings.sasl_password is not None and settings.sasl_password.get_secret_value() == "s3cret-value"


def test_an_unreadable_or_doubled_secret_file_names_the_key_and_path_only(tmp_path: Path) -> None:
    message = _error(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="u",
                     sasl_password_file=str(tmp_path / "absent"))
    assert f"sasl_password_file: cannot read {tmp_path / 'absent'}" in message
    secret = tmp_path / "p"
    secret.write_text("file-secret-value")
    doubled = _error(sasl_password="inline-secret-value", sasl_password_file=str(secret))
    assert "sasl_password and sasl_password_file are both set" in doubled
    assert "inline-secret" not in doubled and "file-secret" not in doubled
