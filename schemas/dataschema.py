"""The CloudEvents `dataschema` of each event type: a URI naming the JSON Schema of its `data` and the
contract's major version (README "Events", versioning policy). The published schema's `$id` is this URI."""

from __future__ import annotations

MAJOR = 1
PREFIX = "urn:scanbridge:schema:"


def dataschema(event_type: str, major: int = MAJOR) -> str:
    """`urn:scanbridge:schema:<type>:v<major>`: additive changes keep it, a breaking one makes a new one."""
    return f"{PREFIX}{event_type}:v{major}"
