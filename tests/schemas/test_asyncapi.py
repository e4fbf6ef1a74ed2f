"""The AsyncAPI document: valid for the AsyncAPI parser (@asyncapi/parser, run with node), complete,
its examples valid, the shipped copy and the README's table current."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from schemas.asyncapi import OUT, document, markdown_table, message_id, rendered
from schemas.contract import MESSAGES
from schemas.topics import Topics
from tests.node import ROOT, node, npm_installed

TOOL = ROOT / "tools" / "asyncapi"


def _parse(doc: dict[str, Any], tmp_path: Path) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(doc))
    npm_installed(TOOL)
    out = subprocess.run([node(), str(TOOL / "validate.mjs"), str(path)], capture_output=True, text=True,
                         timeout=120, check=False)
    return out.returncode, json.loads(out.stdout)


def test_the_document_is_valid_asyncapi_3_for_the_parser(tmp_path: Path) -> None:
    topics = Topics(events="lab.events.v1", artifacts="lab.artifacts.v1")
    code, report = _parse(document(topics), tmp_path)
    problems = [d for d in report["diagnostics"] if d["severity"] in ("error", "warning")]
    assert (code, report["valid"], problems) == (0, True, [])
    assert report["version"] == "3.0.0"
    assert report["channels"] == [topics.inbound, "lab.events.v1", "lab.artifacts.v1", topics.deadletter,
                                  topics.commands]
    assert sorted(report["messages"]) == sorted(m.type for m in MESSAGES)


def test_the_parser_refuses_a_document_with_a_dangling_reference(tmp_path: Path) -> None:
    """The check is real: a message reference to nothing is an error."""
    broken = document()
    broken["channels"]["events"]["messages"]["orderUpdated"] = {"$ref": "#/components/messages/nothing"}
    code, report = _parse(broken, tmp_path)
    assert code == 1 and not report["valid"]
    assert any(d["severity"] == "error" and d["code"] == "invalid-ref" for d in report["diagnostics"])


def test_each_message_has_cloudevents_headers_a_key_and_a_valid_example() -> None:
    doc = document()
    for message in MESSAGES:
        spec = doc["components"]["messages"][message_id(message.type)]
        headers = spec["headers"]["properties"]
        assert headers["ce_type"] == {"const": message.type}
        assert {"ce_id", "ce_source", "ce_time", "ce_dataschema", "ce_partitionkey"} <= headers.keys()
        assert spec["bindings"]["kafka"]["key"]["type"] == "string"
        payload = Draft7Validator({**spec["payload"], "components": doc["components"]})
        example = spec["examples"][0]
        payload.validate(example["payload"])
        Draft7Validator({**spec["headers"], "components": doc["components"]}).validate(example["headers"])


def test_an_example_that_breaks_its_payload_schema_is_caught() -> None:
    doc = document()
    spec = doc["components"]["messages"]["artifactStored"]
    bad = {**spec["examples"][0]["payload"], "size": "large"}
    assert list(Draft7Validator({**spec["payload"], "components": doc["components"]}).iter_errors(bad))


def test_the_shipped_document_is_current() -> None:
    assert OUT.read_text() == rendered(), "run `python -m schemas.jsonschema`"


def test_the_readme_events_section_shows_the_documents_table() -> None:
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, "paste `python -m schemas.asyncapi --markdown` into README, Events"


@pytest.mark.parametrize("event_type", ["order.updated", "command.watch_patients"])
def test_operations_say_who_sends_what(event_type: str) -> None:
    ops = document()["operations"]
    action = "receive" if event_type.startswith("command.") else "send"
    assert ops[f"{action}{message_id(event_type)[0].upper()}{message_id(event_type)[1:]}"]["action"] == action
