"""Medit Link commands (meditlink-openapi.txt §3.4.2–3.4.4, §3.5.3–3.5.5, Appendix B "How to attach a
file")."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from schemas.commands.base import VENDOR_ID, CommandData

VENDOR = "meditlink"


class _Medit(CommandData):
    vendor: ClassVar[str] = VENDOR


class UploadFile(_Medit):
    """Appendix B: attach a file to a case; `command.succeeded` comes with Medit's upload callback.

    The file is registered (§3.4.2) with our upload-callback route as `callbackUrl` and uploaded to the
    pre-signed URL (§3.4.3); the result follows Medit's callback once its post-processing ended."""

    action: ClassVar[str] = "upload_file"
    case_uuid: str = Field(pattern=VENDOR_ID, description="the case to attach the file to")
    source: str = Field(
        min_length=1, max_length=2048,
        description="an artifact id of our store, an s3:// URI of our bucket, a file:// URI under an "
                    "allowed folder, or an https URL on an allowed host")
    name: str | None = Field(None, min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$",
                             description="the file name in Medit Link; default: the source's")

    def subject(self) -> str:
        return self.case_uuid


class OrderCommand(_Medit):
    order_number: int = Field(ge=1, description="§3.5 orderNumber")

    def subject(self) -> str:
        return str(self.order_number)


class AcceptOrder(OrderCommand):
    """§3.5.4: a lab accepts a PENDING order."""

    action: ClassVar[str] = "accept_order"


class RejectOrder(OrderCommand):
    """§3.5.5: a lab rejects a PENDING order."""

    action: ClassVar[str] = "reject_order"


class CancelOrder(OrderCommand):
    """§3.5.3: a clinic cancels an order it placed, before the lab accepted it."""

    action: ClassVar[str] = "cancel_order"


class DeleteFile(_Medit):
    """§3.4.4: delete a file of a case."""

    action: ClassVar[str] = "delete_file"
    file_uuid: str = Field(pattern=VENDOR_ID)

    def subject(self) -> str:
        return self.file_uuid


MODELS: tuple[type[CommandData], ...] = (UploadFile, AcceptOrder, RejectOrder, CancelOrder, DeleteFile)
