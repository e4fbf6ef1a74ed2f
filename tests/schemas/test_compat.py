"""The published schemas against the last released ones: compatible now, and every kind of breaking change
is caught (README "Events", versioning policy)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Literal

from schemas.compat import breaking_changes, compare_releases
from schemas.dataschema import MAJOR
from schemas.events import ArtifactFailed, StoredArtifact
from schemas.jsonschema import RELEASED, rendered
from schemas.published import published_schema

Schema = dict[str, Any]


def _released() -> dict[str, Schema]:
    return {path.name: json.loads(path.read_text()) for path in sorted(Path(RELEASED).glob("*.json"))}


def _current() -> dict[str, Schema]:
    return {name: json.loads(text) for name, text in rendered().items()}


def test_the_current_schemas_break_nothing_of_the_last_release() -> None:
    released = _released()
    assert released, f"no released schemas in {RELEASED}"
    assert RELEASED.name == f"v{MAJOR}"
    assert compare_releases(released, _current()) == []


def test_the_release_check_fails_when_a_current_schema_lost_a_field() -> None:
    current = _current()
    del current["artifact.stored.schema.json"]["properties"]["sha256"]
    assert compare_releases(_released(), current) == ["artifact.stored.schema.json.sha256: removed"]


def test_a_removed_event_type_is_breaking() -> None:
    current = _current()
    del current["order.updated.schema.json"]
    assert compare_releases(_released(), current) == ["order.updated.schema.json: removed"]


def test_a_removed_nested_field_is_breaking() -> None:
    old = published_schema("artifact.stored", StoredArtifact)
    new = copy.deepcopy(old)
    del new["$defs"]["OrderRef"]["properties"]["order_id"]
    new["$defs"]["OrderRef"]["required"].remove("order_id")
    assert breaking_changes(old, new) == ["$.order.order_id: removed"]


def test_a_type_change_is_breaking() -> None:
    old = published_schema("artifact.failed", ArtifactFailed)
    new = copy.deepcopy(old)
    new["properties"]["attempts"]["type"] = "string"
    assert breaking_changes(old, new) == ["$.attempts: type changed from integer to string"]


def test_a_field_becoming_nullable_is_a_type_change() -> None:
    class Nullable(ArtifactFailed):
        reason: str | None  # type: ignore[assignment]

    changes = breaking_changes(published_schema("artifact.failed", ArtifactFailed),
                               published_schema("artifact.failed", Nullable))
    assert changes == ["$.reason: type changed from string to null/string"]


def test_a_new_required_field_is_breaking() -> None:
    class WithTicket(ArtifactFailed):
        ticket: str

    changes = breaking_changes(published_schema("artifact.failed", ArtifactFailed),
                               published_schema("artifact.failed", WithTicket))
    assert changes == ["$.ticket: is a new required field"]


def test_an_optional_field_becoming_required_is_breaking() -> None:
    class KindRequired(ArtifactFailed):
        kind: Literal["scan_3d", "images", "screen_captures", "attachment", "clinical_photo"]  # type: ignore[assignment]

    changes = breaking_changes(published_schema("artifact.failed", ArtifactFailed),
                               published_schema("artifact.failed", KindRequired))
    assert "$.kind: became required" in changes
    assert any(c.startswith("$.kind: type changed") for c in changes)  # it lost `null` too


def test_a_narrowed_enumeration_is_breaking() -> None:
    class Fewer(StoredArtifact):
        kind: Literal["scan_3d", "images"]  # type: ignore[assignment]

    changes = breaking_changes(published_schema("artifact.stored", StoredArtifact),
                               published_schema("artifact.stored", Fewer))
    assert len(changes) == 1
    assert changes[0].startswith("$.kind: enumeration narrowed")
    assert "'attachment'" in changes[0] and "'clinical_photo'" in changes[0]


def test_an_object_closed_to_unknown_fields_is_breaking() -> None:
    old = published_schema("artifact.failed", ArtifactFailed)
    new = {**old, "additionalProperties": False}
    assert breaking_changes(old, new) == ["$: closed to unknown fields"]


def test_additive_changes_pass() -> None:
    class Grown(StoredArtifact):
        kind: Literal["scan_3d", "images", "screen_captures", "attachment", "clinical_photo",  # type: ignore[assignment]
                      "intraoral_video"]
        note: str | None = None

    assert breaking_changes(published_schema("artifact.stored", StoredArtifact),
                            published_schema("artifact.stored", Grown)) == []
    current = _current()
    current["order.shipped.schema.json"] = {"type": "object"}
    assert compare_releases(_released(), current) == []
