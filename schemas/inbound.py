"""Inbound webhook bodies, validated at the receiver (itero-dpms-api.txt, "Callback Request")."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator


class IteroNotification(BaseModel):
    """`{"Id": <Rx GUID>, "CompanyId": <account>}`; names matched case-insensitively, extras kept."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    companyid: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _lower_keys(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("the body must be a JSON object")
        return {str(k).lower(): v for k, v in value.items()}

    @field_validator("id", mode="before")
    @classmethod
    def _guid(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("Id must be the Rx GUID as a string")
        guid = value.strip().strip("{}")
        try:
            uuid.UUID(guid)
        except ValueError:
            raise ValueError("Id is not a GUID") from None
        return guid  # as the vendor wrote it: its API may look the id up exactly so

    @field_validator("companyid", mode="before")
    @classmethod
    def _number(cls, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool):
            raise ValueError("CompanyId must be a number")
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, str) and value.strip().isdigit():
            return value.strip()
        raise ValueError("CompanyId must be a number")
