"""Secured Kafka end to end: the project's broker with SASL_SSL, SSL (mTLS) and SASL_PLAINTEXT listeners
and a CA made for the test (deploy/kafka/secure.py); refused credentials and trust say so plainly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bus.errors import BusRefused, BusUnavailable
from bus.kafka import KafkaBus
from schemas.envelope import Envelope
from schemas.kafkaconfig import KafkaSettings
from tests.events import collect
from tests.kafka_broker import SecureBroker, secure_kafka_broker


@pytest.fixture(scope="module")
def broker() -> Iterator[SecureBroker]:
    with secure_kafka_broker() as secure:
        yield secure


def _sasl(broker: SecureBroker, protocol: str, mechanism: str, **extra: Any) -> KafkaSettings:
    user = broker.user(mechanism)
    fields: dict[str, Any] = {
        "bootstrap": broker.listeners[protocol], "security_protocol": protocol, "sasl_mechanism": mechanism,
        "sasl_username": user, "sasl_password_file": str(broker.password_file(user)),
        "partitions": 2, "ack_timeout_s": 10.0, "linger_ms": 0, **extra,
    }
    if protocol == "SASL_SSL":
        fields["ssl_cafile"] = str(broker.folder / "ca.pem")
    return KafkaSettings.model_validate(fields)


async def _round_trip(settings: KafkaSettings) -> None:
    topic = f"t-{uuid.uuid4().hex[:10]}.secure"
    bus = KafkaBus(settings)
    await bus.ensure_topics([topic])
    await bus.start()
    try:
        sent = Envelope(id=f"e-{uuid.uuid4().hex[:6]}", source="scanbridge/test", type="scan.notified",
                        partitionkey="itero:1:rx", data={"secured": True})
        await bus.publish(topic, sent)
        got = await collect(bus, [topic], lambda events: len(events) >= 1)
    finally:
        await bus.close()
    assert [(e.id, e.data) for e in got] == [(sent.id, {"secured": True})]


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_events_go_round_over_sasl_ssl_with_each_mechanism(
    broker: SecureBroker, mechanism: str
) -> None:
    await _round_trip(_sasl(broker, "SASL_SSL", mechanism))


async def test_events_go_round_over_sasl_plaintext(broker: SecureBroker) -> None:
    await _round_trip(_sasl(broker, "SASL_PLAINTEXT", "SCRAM-SHA-256"))


async def test_events_go_round_over_mutual_tls_with_an_encrypted_client_key(broker: SecureBroker) -> None:
    folder = broker.folder
    await _round_trip(KafkaSettings.model_validate({
        "bootstrap": broker.listeners["SSL"], "security_protocol": "SSL",
        "ssl_cafile": str(folder / "ca.pem"),
        "ssl_certfile": str(folder / "client.pem"), "ssl_keyfile": str(folder / "client.key"),
        "ssl_key_password_file": str(folder / "client.key.password"), "partitions": 2, "linger_ms": 0,
    }))


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
async def test_a_wrong_password_is_refused_with_a_message_naming_user_and_mechanism(
    broker: SecureBroker, mechanism: str, tmp_path: Path
) -> None:
    wrong = tmp_path / "password"
    wrong.write_text("not-the-password-0123\n")
    settings = _sasl(broker, "SASL_SSL", mechanism, sasl_password_file=str(wrong))
    bus = KafkaBus(settings)
    with pytest.raises(BusRefused) as refused:
        await bus.start()
    message = str(refused.value)
    assert f"user {broker.user(mechanism)!r}" in message and mechanism in message
    assert "sasl_password" in message and "not-the-password" not in message
    with pytest.raises(BusRefused):
        await bus.ensure_topics(["t-never-created"])


async def test_a_broker_certificate_from_an_unknown_ca_is_refused_naming_ssl_cafile(
    broker: SecureBroker,
) -> None:
    settings = _sasl(broker, "SASL_SSL", "PLAIN").model_copy(update={"ssl_cafile": None})
    with pytest.raises(BusRefused, match=r"not trusted .*ssl_cafile"):
        await KafkaBus(settings).start()


async def test_a_missing_client_certificate_is_named_when_the_listener_requires_one(
    broker: SecureBroker,
) -> None:
    settings = KafkaSettings(bootstrap=broker.listeners["SSL"], security_protocol="SSL",
                             ssl_cafile=broker.folder / "ca.pem", ack_timeout_s=5.0)
    bus = KafkaBus(settings)
    with pytest.raises(BusUnavailable, match="ssl_certfile"):
        await bus.ensure_topics(["t-never-created"])


def test_an_encrypted_client_key_without_its_password_is_named_not_prompted_for(broker: SecureBroker) -> None:
    folder = broker.folder
    settings = KafkaSettings(bootstrap=broker.listeners["SSL"], security_protocol="SSL",
                             ssl_cafile=folder / "ca.pem", ssl_certfile=folder / "client.pem",
                             ssl_keyfile=folder / "client.key")
    with pytest.raises(BusRefused, match="set ssl_key_password"):
        KafkaBus(settings)._new_producer()
