"""A Medit Link Open API cloud simulator written from `vendor-docs/meditlink-openapi.txt`."""

from simulators.meditlink.app import create_app
from simulators.meditlink.state import (
    CLIENT_ID,
    CLIENT_SECRET,
    CLINIC_EMAIL,
    CLINIC_UUID,
    LAB_EMAIL,
    LAB_UUID,
    PASSWORD,
    MeditSimState,
)

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "CLINIC_EMAIL",
    "CLINIC_UUID",
    "LAB_EMAIL",
    "LAB_UUID",
    "PASSWORD",
    "MeditSimState",
    "create_app",
]
