"""Inbound webhook bodies, validated at the receiver (itero-dpms-api.txt, "Callback Request")."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from schemas.ids import canonical_guid

MAX_COMPANY_DIGITS = 20  # an account number, not a payload


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
        """A Number (Callback Request table): ASCII digits only, at most `MAX_COMPANY_DIGITS`."""
        if value is None:
            return None
        if isinstance(value, bool):
            raise ValueError("CompanyId must be a number")
        text = None
        if isinstance(value, int) and value >= 0:
            text = str(value) if value < 10**MAX_COMPANY_DIGITS else None
        elif isinstance(value, float) and value.is_integer() and 0 <= value < 10**MAX_COMPANY_DIGITS:
            text = str(int(value))
        elif isinstance(value, str):
            text = value.strip()
        if not text or not text.isascii() or not text.isdigit() or len(text) > MAX_COMPANY_DIGITS:
            raise ValueError("CompanyId must be a number")
        return text
