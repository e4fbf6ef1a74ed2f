"""Compare a schema with its last released version and name every breaking change (README "Events",
versioning policy). Used by the test that guards `schemas/released/`.

Within a major version a schema may only grow: a new optional field, a new enumeration value, a new event
type. Breaking: a field removed, a type or format changed, a field newly required (or a new required
field), an enumeration narrowed, an object closed to unknown fields, an event type removed. The rules hold
both ways, so old events (a replay, the dead-letter topic) still validate against the new schema and a
consumer holding the old schema still reads new events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Schema = dict[str, Any]
_ENUM_KEYS = ("enum", "x-extensible-enum")


@dataclass
class Shape:
    """One schema node, flattened: the types it allows and what constrains them."""

    types: frozenset[str] = frozenset()  # empty: anything
    formats: frozenset[str] = frozenset()
    enum: frozenset[str] | None = None  # None: any value of its types
    properties: dict[str, Schema] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    closed: bool = False
    items: Schema | None = None


def _resolve(node: Schema, root: Schema) -> Schema:
    seen = 0
    while "$ref" in node:
        ref = str(node["$ref"])
        if not ref.startswith("#/") or seen > 50:
            raise ValueError(f"cannot resolve {ref!r}")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        node, seen = {**target, **{k: v for k, v in node.items() if k != "$ref"}}, seen + 1
    return node


def shape(node: Schema, root: Schema) -> Shape:
    node = _resolve(node, root)
    branches = node.get("anyOf") or node.get("oneOf")
    if branches:
        parts = [shape(branch, root) for branch in branches]
        enums = [p.enum for p in parts if p.enum is not None]
        unrestricted = any(p.enum is None and p.types - {"null"} for p in parts)
        objects = [p for p in parts if "object" in p.types]
        arrays = [p for p in parts if "array" in p.types]
        types = frozenset().union(*(p.types for p in parts))
        return Shape(
            types=frozenset() if any(not p.types for p in parts) else types,
            formats=frozenset().union(*(p.formats for p in parts)),
            enum=None if unrestricted or not enums else frozenset().union(*enums),
            properties=objects[0].properties if objects else {},
            required=objects[0].required if objects else frozenset(),
            closed=bool(objects) and objects[0].closed,
            items=arrays[0].items if arrays else None,
        )
    raw_type = node.get("type")
    types = frozenset([raw_type] if isinstance(raw_type, str) else raw_type or [])
    if "properties" in node and not types:
        types = frozenset({"object"})
    enum: frozenset[str] | None = None
    if "const" in node:
        enum = frozenset({repr(node["const"])})
    for key in _ENUM_KEYS:
        if key in node:
            enum = frozenset(repr(v) for v in node[key])
    return Shape(
        types=types,
        formats=frozenset({node["format"]}) if "format" in node else frozenset(),
        enum=enum,
        properties=dict(node.get("properties", {})),
        required=frozenset(node.get("required", [])),
        closed=node.get("additionalProperties") is False,
        items=node.get("items"),
    )


def breaking_changes(old: Schema, new: Schema, where: str = "") -> list[str]:
    """Every breaking change from `old` to `new` (empty: compatible), each naming its path."""
    return _compare(old, old, new, new, where or "$")


def _compare(old: Schema, old_root: Schema, new: Schema, new_root: Schema, path: str) -> list[str]:
    a, b = shape(old, old_root), shape(new, new_root)
    found: list[str] = []
    if a.types != b.types:
        found.append(f"{path}: type changed from {_names(a.types)} to {_names(b.types)}")
    if a.formats != b.formats:
        found.append(f"{path}: format changed from {_names(a.formats)} to {_names(b.formats)}")
    if b.enum is not None and (a.enum is None or not a.enum <= b.enum):
        lost = "any value" if a.enum is None else ", ".join(sorted(a.enum - b.enum))
        found.append(f"{path}: enumeration narrowed (no longer allows {lost})")
    if b.closed and not a.closed:
        found.append(f"{path}: closed to unknown fields")
    for name in sorted(b.required - a.required):
        state = "became required" if name in a.properties else "is a new required field"
        found.append(f"{path}.{name}: {state}")
    for name, old_field in sorted(a.properties.items()):
        if name not in b.properties:
            found.append(f"{path}.{name}: removed")
        else:
            found.extend(_compare(old_field, old_root, b.properties[name], new_root, f"{path}.{name}"))
    if a.items is not None and b.items is not None:
        found.extend(_compare(a.items, old_root, b.items, new_root, f"{path}[]"))
    return found


def _names(values: frozenset[str]) -> str:
    return "/".join(sorted(values)) or "any"


def compare_releases(released: dict[str, Schema], current: dict[str, Schema]) -> list[str]:
    """Breaking changes between two sets of schemas by file name (a file gone is an event type removed)."""
    found: list[str] = []
    for name, old in sorted(released.items()):
        if name not in current:
            found.append(f"{name}: removed")
            continue
        found.extend(breaking_changes(old, current[name], name))
    return found
