"""Keep, hash or drop patient data wherever an event could carry it (DESIGN.md §5.5; README "Security").

Covered: the normalized `patient`, `notes`, file names a vendor lets a person choose (artifact names,
archive members), and the verbatim `vendor_record`, where each vendor names its patient keys from its
document (`PatientKeys`, declared in the vendor's `normalize` module); keys that look like patient
data (`patient…`, `…birth…`, `…chart…`, `gender`, `integrationid…`) count in every vendor's record,
at any depth, in any case. Hashes are HMAC-SHA256 under the deployment key (`privacy.hash_key`), of
the value with its case folded and blanks collapsed, so one patient gets one hash across vendors
and a dictionary of names cannot reverse them without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from schemas.envelope import Envelope
from schemas.events import Order, Patient
from schemas.settings import PrivacySettings

Policy = Literal["keep", "hash", "drop"]
HASH_CHARS = 32  # 128 bits of the HMAC: plenty for joins, short in events
_PATIENT_LIKE = ("patient", "birth", "chart", "gender", "integrationid")
_KEY_NOISE = re.compile(r"[\s_\-.]+")
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,12}")
_PROCESS_KEY = secrets.token_bytes(32)  # for log references when no deployment key is configured


def _norm_key(key: object) -> str:
    return _KEY_NOISE.sub("", str(key)).lower()


@dataclass(frozen=True)
class PatientKeys:
    """Where a vendor's record carries patient data, besides the patient-like keys every record has.

    `anywhere`: keys (compared lower case, without `_`, `-`, `.` or blanks) at any depth;
    `under`: parent key → its keys ("" is the record itself; a list's items have the list's key as
    parent); `file_names`: the vendor's file names may name the patient."""

    anywhere: frozenset[str] = frozenset()
    under: Mapping[str, frozenset[str]] = field(default_factory=dict)
    file_names: bool = False

    def covers(self, parent: str, key: str) -> bool:
        return (any(word in key for word in _PATIENT_LIKE) or key in self.anywhere
                or key in self.under.get(parent, frozenset()))


GENERIC = PatientKeys()


@dataclass(frozen=True)
class Privacy:
    policy: Policy = "keep"
    key: bytes | None = None

    @classmethod
    def of(cls, settings: PrivacySettings) -> Privacy:
        secret = settings.hash_key.get_secret_value().encode() if settings.hash_key is not None else None
        return cls(settings.patient_fields, secret)

    def hash(self, value: str) -> str:
        if self.key is None:
            raise ValueError("no privacy hash key")  # settings refuse `hash` without one
        text = " ".join(unicodedata.normalize("NFKC", value).casefold().split())
        digest = hmac.new(self.key, text.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return digest.hexdigest()[:HASH_CHARS]

    def ref(self, value: str) -> str:
        """A short keyed reference for logs (never the value, never a bare digest of it)."""
        key = self.key or _PROCESS_KEY
        return hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:12]

    def text(self, value: str | None) -> str | None:
        if value is None or self.policy == "keep":
            return value
        return self.hash(value) if self.policy == "hash" and value else None

    def file_name(self, name: str | None) -> str | None:
        """A file name that may carry a patient's name: hashed keeping its extension, or dropped."""
        if name is None or self.policy == "keep":
            return name
        if self.policy == "drop" or not name:
            return None
        suffix = PurePosixPath(name.replace("\\", "/")).suffix
        return self.hash(name) + (suffix if _SUFFIX.fullmatch(suffix) else "")

    def patient(self, patient: Patient | None) -> Patient | None:
        if patient is None or self.policy == "keep":
            return patient
        if self.policy == "drop":
            return None
        fields = patient.model_dump()
        return Patient(**{k: self.text(v) if isinstance(v, str) else v for k, v in fields.items()})

    def record(self, record: dict[str, Any], keys: PatientKeys = GENERIC) -> dict[str, Any]:
        """The vendor record without (drop) or with hashed (hash) values under patient keys."""
        if self.policy == "keep":
            return record
        return self._walk(record, "", keys)

    def _walk(self, value: Any, parent: str, keys: PatientKeys) -> Any:
        if isinstance(value, list):
            return [self._walk(item, parent, keys) for item in value]
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for name, item in value.items():
            key = _norm_key(name)
            if not keys.covers(parent, key):
                out[name] = self._walk(item, key, keys)
            elif self.policy == "hash":
                out[name] = self._hash_all(item)
        return out

    def _hash_all(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._hash_all(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._hash_all(v) for v in value]
        if isinstance(value, bool) or value is None or value == "":
            return value
        return self.hash(str(value))

    def order(self, order: Order, keys: PatientKeys) -> Order:
        """The order as it may be published: patient, notes, file names and vendor record protected."""
        if self.policy == "keep":
            return order
        artifacts = order.artifacts
        if keys.file_names:
            artifacts = [a.model_copy(update={"name": self.file_name(a.name)}) for a in artifacts]
        return order.model_copy(update={
            "patient": self.patient(order.patient), "notes": self.text(order.notes), "artifacts": artifacts,
            "vendor_record": self.record(order.vendor_record, keys)})

    def event(self, event: Envelope) -> Envelope:
        """A copy of `event` with patient-like keys of its JSON data protected (e.g. for a dead letter)."""
        if self.policy == "keep" or not isinstance(event.data, dict):
            return event
        return event.model_copy(update={"data": self.record(event.data)})
