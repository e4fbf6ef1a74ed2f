"""The published schemas as a consumer uses them: examples validate, unknown fields and new enumeration
values do not break a consumer, while the producer still refuses them; `dataschema` names the schema."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from pydantic import ValidationError as ModelError

from bus.codec import decode, encode
from schemas.contract import MESSAGES, by_type
from schemas.dataschema import dataschema
from schemas.envelope import Envelope
from schemas.events import Order, WatchPatients
from schemas.jsonschema import OUT


def _schema(event_type: str) -> dict[str, Any]:
    return json.loads((OUT / f"{event_type}.schema.json").read_text())


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.type)
def test_each_example_validates_against_its_published_schema_and_its_model(message: Any) -> None:
    schema = _schema(message.type)
    Draft202012Validator.check_schema(schema)
    Draft202012Validator(schema).validate(message.example())
    assert schema["$id"] == dataschema(message.type)
    if message.model is not None:
        message.model.model_validate(message.example())


def test_a_consumer_validating_order_updated_accepts_new_fields_and_new_stage_values() -> None:
    grown = copy.deepcopy(by_type()["order.updated"].example())
    grown["insurance"] = {"plan": "gold"}  # a field added later, at the top
    grown["teeth"][0]["margin"] = "chamfer"  # and nested
    grown["stage"] = "in_transit"  # a stage added later
    Draft202012Validator(_schema("order.updated")).validate(grown)
    with pytest.raises(ModelError):  # the producer still validates strictly
        Order.model_validate(grown)


def test_a_consumer_still_refuses_a_wrong_type_or_a_missing_required_field() -> None:
    validator = Draft202012Validator(_schema("artifact.stored"))
    wrong = {**by_type()["artifact.stored"].example(), "size": "large"}
    with pytest.raises(ValidationError):
        validator.validate(wrong)
    missing = {k: v for k, v in by_type()["artifact.stored"].example().items() if k != "sha256"}
    with pytest.raises(ValidationError):
        validator.validate(missing)


def test_a_command_schema_stays_closed_like_the_executor_that_validates_it() -> None:
    command = {**by_type()["command.watch_patients"].example(), "priority": "high"}
    with pytest.raises(ValidationError):
        Draft202012Validator(_schema("command.watch_patients")).validate(command)
    with pytest.raises(ModelError):
        WatchPatients.model_validate(command)


def test_every_event_carries_the_dataschema_of_its_type_through_the_kafka_encoding() -> None:
    event = Envelope(id="e1", source="scanbridge/itero/1", type="order.updated", partitionkey="itero:1:rx",
                     data={"a": 1})
    assert event.dataschema == "urn:scanbridge:schema:order.updated:v1"
    key, value, headers = encode(event)
    assert ("ce_dataschema", b"urn:scanbridge:schema:order.updated:v1") in headers
    assert decode(key, value, headers) == event


def test_an_event_from_before_dataschema_is_read_with_the_current_one() -> None:
    event = Envelope(id="e1", source="scanbridge/itero/1", type="scan.notified", partitionkey="k", data={})
    key, value, headers = encode(event)
    older = [(name, data) for name, data in headers if name != "ce_dataschema"]
    assert decode(key, value, older).dataschema == dataschema("scan.notified")


def test_an_explicit_dataschema_is_kept() -> None:
    event = Envelope(id="e1", source="s", type="order.updated", partitionkey="k", data={},
                     dataschema="urn:scanbridge:schema:order.updated:v2")
    assert decode(*encode(event)).dataschema == "urn:scanbridge:schema:order.updated:v2"
