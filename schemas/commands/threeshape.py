"""3Shape Dental Desktop commands (3shape-dental-desktop-pms-integration.txt "/CreatePatient",
"/UpdatePatient", "/CreateCase", "/SelectCase", "/GetRequestStatusById", "/RemoveRequestById",
"Request status reference").

Each call carries the command id as its `RequestId`; the executor polls `GetRequestStatusById` until the
request ends and publishes the outcome with the doc's status code (`result.status_code`). A command
that a 3DD client has not picked up yet is cancelled with `command.3shape.cancel_request` naming it
(`RemoveRequestById`). Patient fields are named `patient_…` (and `integration_id`) so the privacy
policy covers them wherever the command is copied; subjects are digests of the integration id.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar
from uuid import UUID

from pydantic import Field, model_validator

from schemas.commands.base import CommandData
from schemas.commands.itero import patient_subject

VENDOR = "3shape"
TEXT = r"^[^\x00-\x1f]+$"


class _ThreeShape(CommandData):
    vendor: ClassVar[str] = VENDOR


class _Patient(_ThreeShape):
    integration_id: str = Field(min_length=1, max_length=200, pattern=TEXT,
                                description="IntegrationId: the PMS patient's id, unique in 3DD")
    patient_last_name: str = Field(min_length=1, max_length=100, pattern=TEXT, description="LastName")
    patient_first_name: str | None = Field(None, max_length=100, pattern=TEXT, description="FirstName")
    patient_date_of_birth: date | None = Field(None, description="DateOfBirth")
    patient_id: str | None = Field(None, max_length=100, pattern=TEXT,
                                   description="PatientId: a visual id such as an SSN; unique when set")
    client_id: UUID | None = Field(None, description="the 3DD client that runs it; none: the server")

    def subject(self) -> str:
        return patient_subject(self.integration_id)


class CreatePatient(_Patient):
    """/CreatePatient: create the 3DD patient of a PMS patient (or map an existing one, `merge`).

    With `merge` (a client operation only) the 3DD user may assign the integration id to an existing
    patient instead. The patient is watched once created (`watch`)."""

    action: ClassVar[str] = "create_patient"
    merge: bool = Field(False, description="MergePatient: let the 3DD user map an existing patient")
    watch: bool = Field(True, description="watch the patient's cases once it is created")

    @model_validator(mode="after")
    def _merge_on_a_client(self) -> CreatePatient:
        if self.merge and self.client_id is None:
            raise ValueError("merge is a client operation: give client_id")
        return self


class UpdatePatient(_Patient):
    """/UpdatePatient: set the 3DD patient's details; a field left out is erased (the doc's rule)."""

    action: ClassVar[str] = "update_patient"


class CreateCase(_ThreeShape):
    """/CreateCase: start a new case workflow for a patient on a 3DD client."""

    action: ClassVar[str] = "create_case"
    integration_id: str = Field(min_length=1, max_length=200, pattern=TEXT)
    client_id: UUID

    def subject(self) -> str:
        return patient_subject(self.integration_id)


class SelectCase(_ThreeShape):
    """/SelectCase: select an existing case on a 3DD client."""

    action: ClassVar[str] = "select_case"
    case_id: UUID
    client_id: UUID

    def subject(self) -> str:
        return str(self.case_id)


class CancelRequest(_ThreeShape):
    """/RemoveRequestById: cancel a command of this connection that no 3DD client has picked up yet."""

    action: ClassVar[str] = "cancel_request"
    target_command_id: UUID = Field(description="the command to cancel (its RequestId)")

    def subject(self) -> str:
        return f"request-{self.target_command_id}"


MODELS: tuple[type[CommandData], ...] = (CreatePatient, UpdatePatient, CreateCase, SelectCase, CancelRequest)
