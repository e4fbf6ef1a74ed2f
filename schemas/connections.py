"""Connection models as rows of the state store: a stored row back into its vendor's model (the vendor →
model table comes from the registered vendors), and a model as JSON with its secrets revealed (the store
seals the row; pydantic's own `model_dump(mode="json")` would write every SecretStr as "**********").
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr


def parse(models: Mapping[str, type[BaseModel]], vendor: str, data: Mapping[str, Any]) -> BaseModel:
    """The vendor's connection model (`models`: the registered vendors') from stored JSON; ValueError for
    an unknown vendor, pydantic's ValidationError for data the model refuses. A model with a `vendor`
    field (iTero/Align) gets the key's."""
    model = models.get(vendor)
    if model is None:
        raise ValueError(f"unknown vendor {vendor!r} (known: {', '.join(sorted(models))})")
    fields = dict(data)
    if "vendor" in model.model_fields:
        fields["vendor"] = vendor
    return model.model_validate(fields)


def _revealed(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, BaseModel):
        return {name: _revealed(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {str(k): _revealed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_revealed(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def revealed(connection: BaseModel) -> dict[str, Any]:
    """Every field as JSON, secrets in clear (only ever written sealed, never logged)."""
    data = _revealed(connection)
    assert isinstance(data, dict)
    return data
