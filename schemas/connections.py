"""Connection models as rows of the state store: the registered vendors' models as one pydantic
discriminated union on `vendor` (DESIGN.md §11; the vendor → model table comes from the registered
plug-ins, so this module names no vendor), a stored row back into its vendor's model, and a model as
JSON with its secrets revealed (the store seals the row; pydantic's own `model_dump(mode="json")` would
write every SecretStr as "**********").

Every connection model has a `vendor` field, a `Literal` of the vendor(s) it serves.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, Discriminator, SecretStr, Tag, TypeAdapter


def vendors_of(model: type[BaseModel]) -> tuple[str, ...]:
    """The vendors a connection model serves: the values of its `vendor` Literal field."""
    field = model.model_fields.get("vendor")
    values = typing.get_args(field.annotation) if field is not None else ()
    if not values or not all(isinstance(v, str) for v in values):
        raise TypeError(f"{model.__name__} needs a field `vendor: Literal[...]` naming its vendor(s)")
    return tuple(values)


def _tag(value: Any) -> str | None:
    found = value.get("vendor") if isinstance(value, Mapping) else getattr(value, "vendor", None)
    return found if isinstance(found, str) else None


@lru_cache(maxsize=16)
def _adapter(choices: tuple[tuple[str, type[BaseModel]], ...]) -> TypeAdapter[Any]:
    tagged = tuple(Annotated[model, Tag(vendor)] for vendor, model in choices)
    known = ", ".join(vendor for vendor, _ in choices)
    union = Union[tagged] if len(tagged) > 1 else tagged[0]  # noqa: UP007 - built at run time
    return TypeAdapter(Annotated[union, Discriminator(  # type: ignore[valid-type, arg-type]
        _tag, custom_error_type="unknown_vendor",
        custom_error_message=f"`vendor` must name a registered vendor ({known})")])


def union(models: Mapping[str, type[BaseModel]]) -> TypeAdapter[Any]:
    """The discriminated union on `vendor` of `models` (vendor → its connection model)."""
    return _adapter(tuple(sorted(models.items(), key=lambda item: item[0])))


def parse(models: Mapping[str, type[BaseModel]], vendor: str, data: Mapping[str, Any]) -> BaseModel:
    """The vendor's connection model (`models`: the registered vendors') from stored JSON, through the
    union; ValueError for an unknown vendor, pydantic's ValidationError for data the model refuses. The
    row's key names the vendor (a `vendor` in the data is overridden)."""
    if vendor not in models:
        raise ValueError(f"unknown vendor {vendor!r} (known: {', '.join(sorted(models))})")
    parsed = union(models).validate_python({**data, "vendor": vendor})
    assert isinstance(parsed, BaseModel)
    return parsed


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
