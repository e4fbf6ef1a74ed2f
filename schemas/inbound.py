"""Inbound webhook bodies, validated at the receiver (itero-dpms-api.txt, "Callback Request")."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from schemas.ids import canonical_guid


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
        guid = canonical_guid(value)
        if guid is None:
            raise ValueError("Id is not a GUID")
        # One spelling for subject, key and folder; the inbound record keeps the one the vendor sent.
        return guid

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
