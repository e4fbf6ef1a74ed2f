"""Connection settings as the console's edit form shows them — JSON with every secret masked — and back:
a masked value left as it was keeps the stored secret, so an operator can change a URL without
re-typing a token (issue 17 "Connections: add / edit / remove")."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from scanbridge import vendors as registry
from scanbridge.plugin import connection_models
from schemas import connections as models

MASK = "**********"  # what pydantic's SecretStr shows in JSON


def shown(model: BaseModel) -> str:
    data = model.model_dump(mode="json")
    data.pop("vendor", None)  # the key names it
    return json.dumps(data, indent=2)


def _unmask(given: Any, stored: Any) -> Any:
    if given == MASK:
        return stored
    if isinstance(given, dict) and isinstance(stored, dict):
        return {k: _unmask(v, stored.get(k)) for k, v in given.items()}
    return given


class FormProblem(ValueError):
    """What is wrong with a submitted connection, one line per problem, no values."""


def parse(vendor: str, text: str, stored: Mapping[str, Any] | None = None) -> BaseModel:
    """The vendor's connection model from the form's JSON (masked values: the `stored` secrets)."""
    try:
        data = json.loads(text)
    except ValueError:
        raise FormProblem("the settings are not JSON") from None
    if not isinstance(data, dict):
        raise FormProblem("the settings are not a JSON object")
    if stored is not None:
        data = _unmask(data, dict(stored))
    try:
        return models.parse(connection_models(registry.VENDORS), vendor, data)
    except ValidationError as exc:
        raise FormProblem("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) \
            from None
    except ValueError as exc:
        raise FormProblem(str(exc)) from None


def vendors() -> list[str]:
    return sorted(connection_models(registry.VENDORS))
