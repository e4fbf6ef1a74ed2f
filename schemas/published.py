"""The JSON Schemas downstream services validate against (README "Events", versioning policy).

The producer validates strictly (the pydantic models forbid unknown fields); what is published is opened
so a consumer never breaks on an additive change: objects allow unknown fields, and the enumerations of
events are extensible (`x-extensible-enum`: known values, more may come within the major version).
Commands are the other way round (downstream writes them, scanbridge validates them strictly), so their
schemas stay closed: what they say is exactly what is accepted.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from schemas.dataschema import dataschema

DRAFT = "https://json-schema.org/draft/2020-12/schema"
ANY_JSON: dict[str, Any] = {
    "description": "the vendor's body exactly as received (any JSON, or bytes of the declared content type)",
}


def _opened(node: Any) -> Any:
    if isinstance(node, list):
        return [_opened(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _opened(value) for key, value in node.items()}
    if out.get("additionalProperties") is False:
        del out["additionalProperties"]
    if "enum" in out and out.get("type") == "string":
        out["x-extensible-enum"] = out.pop("enum")
    return out


def published_schema(
    event_type: str, model: type[BaseModel] | None, *, strict: bool = False
) -> dict[str, Any]:
    """The schema of `data` of `event_type` as shipped: opened unless `strict` (commands)."""
    generated = copy.deepcopy(ANY_JSON) if model is None else model.model_json_schema()
    schema = generated if strict else _opened(generated)
    return {"$schema": DRAFT, "$id": dataschema(event_type), **schema}
