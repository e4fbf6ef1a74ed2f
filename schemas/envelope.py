"""The CloudEvents 1.0 envelope every event travels in (DESIGN.md §2, EVENTS.md "the rest")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.dataschema import dataschema


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """One CloudEvent: context attributes plus `data`.

    `data` is a JSON object for normalized events and the verbatim bytes for inbound records.
    `partitionkey` is the CloudEvents Kafka extension: `{vendor}:{account}:{order}`.
    Further extensions (for example `replayed`) live in `extensions`. `dataschema` names the JSON
    Schema of `data` (schemas/dataschema.py); left out, it is the current one of `type`.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    source: str
    type: str
    subject: str | None = None
    time: datetime = Field(default_factory=utcnow)
    datacontenttype: str = "application/json"
    dataschema: str = ""
    partitionkey: str
    data: dict[str, Any] | bytes
    extensions: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _current_dataschema(cls, values: Any) -> Any:
        if isinstance(values, dict) and not values.get("dataschema") and isinstance(values.get("type"), str):
            return {**values, "dataschema": dataschema(values["type"])}
        return values

    def json_data(self) -> dict[str, Any]:
        if not isinstance(self.data, dict):
            raise TypeError(f"event {self.id} carries raw bytes, not a JSON object")
        return self.data
