"""The patient data policy itself: keyed hashes (HMAC-SHA256 under a deployment key that never comes from
the TOML file) and every vendor's patient keys, in any case and at any depth (issue 10, items 1 and 2)."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from consumers.itero.normalize import PATIENT_KEYS as ITERO
from consumers.meditlink.normalize import PATIENT_KEYS as MEDIT
from consumers.privacy import PatientKeys, Privacy
from consumers.threeshape.normalize import PATIENT_KEYS as THREESHAPE
from schemas.envelope import Envelope
from schemas.events import ArtifactRef, Order, Patient
from schemas.settings import PrivacySettings, Settings

KEY = "k" * 40
OTHER_KEY = "o" * 40


def test_hash_without_a_key_is_refused_at_start_and_says_where_the_key_goes() -> None:
    with pytest.raises(ValidationError, match="SCANBRIDGE_PRIVACY__HASH_KEY"):
        PrivacySettings(patient_fields="hash")


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "scanbridge.toml"
    empty.write_text("")
    monkeypatch.setenv("SCANBRIDGE_CONFIG", str(empty))
    monkeypatch.setenv("SCANBRIDGE_PRIVACY__PATIENT_FIELDS", "hash")
    monkeypatch.setenv("SCANBRIDGE_PRIVACY__HASH_KEY", KEY)
    privacy = Settings().privacy
    assert privacy.hash_key is not None and privacy.hash_key.get_secret_value() == KEY
    assert KEY not in repr(privacy)


def test_the_key_comes_from_a_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "hash.key"
    secret.write_text(KEY + "\n")
    privacy = PrivacySettings(patient_fields="hash", hash_key_file=secret)
    assert privacy.hash_key is not None and privacy.hash_key.get_secret_value() == KEY


def test_an_unreadable_key_file_or_a_short_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="hash_key_file"):
        PrivacySettings(patient_fields="hash", hash_key_file=tmp_path / "missing")
    with pytest.raises(ValidationError, match="at least 32"):
        PrivacySettings(patient_fields="hash", hash_key="short")


def test_a_key_in_the_toml_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "scanbridge.toml"
    config.write_text(f'[privacy]\npatient_fields = "hash"\nhash_key = "{KEY}"\n')
    monkeypatch.setenv("SCANBRIDGE_CONFIG", str(config))
    with pytest.raises(ValueError, match="must not be in the TOML file"):
        Settings()


def test_hashes_are_keyed_so_a_dictionary_of_names_does_not_reverse_them() -> None:
    privacy = Privacy("hash", KEY.encode())
    hashed = privacy.hash("Jane")
    dictionary = [hashlib.sha256(variant.encode()).hexdigest() for variant in ("Jane", "jane", "JANE")]
    assert not any(digest.startswith(hashed) for digest in dictionary)
    assert hashed == hmac.new(KEY.encode(), b"jane", hashlib.sha256).hexdigest()[:32]
    assert hashed != Privacy("hash", OTHER_KEY.encode()).hash("Jane")  # another key, another pseudonym
    assert privacy.hash(" JANE ") == hashed  # one patient, one hash: case and blanks do not matter


def _order(vendor: str, record: dict[str, Any], *, names: list[str] | None = None) -> Order:
    return Order(vendor=vendor, account="a", connection="c", order_id="1", stage="unknown", version="v",
                 patient=Patient(first_name="Jane", last_name="Doe", chart_number="CH-7"),
                 notes="Jane's notes",
                 artifacts=[ArtifactRef(kind="clinical_photo", vendor_ref=str(i), name=n)
                            for i, n in enumerate(names or [])],
                 vendor_record=record)


ITERO_RECORD = {"RxId": "r", "patientfirstname": "Jane", "PATIENTLASTNAME": "Doe",
                "PatientChartNumber": "CH-7", "PatientId": 991, "Notes": "Jane's notes",
                "DoctorName": "Dr. Who",
                "Extra": {"DateOfBirth": "1990-01-02", "patient_email": "jane@example.org"},
                "Preps": [{"AdaId": 4, "Patient": {"Name": "Jane"}}]}
MEDIT_RECORD = {"orderNumber": 1, "description": "for Jane",
                "buyer": {"name": "D.Davis", "description": "clinic"},
                "delivery": [{"status": "DONE", "message": "hand to Jane"}],
                "case": {"uuid": "u", "name": "Jane Doe's Case", "tags": ["Jane"],
                         "patient": {"name": "Jane Doe", "code": "P-1"},
                         "files": [{"uuid": "f", "name": "Jane_upper.meditMesh"}]}}
THREESHAPE_RECORD = {"CaseId": "c", "PatientName": "Jane Doe", "PatientIntegrationId": "PMS-7",
                     "SentToLab": "Lab", "AttachedImages": [{"Id": "i", "Name": "Jane Doe smile.jpeg"}]}
CASES = [("itero", ITERO_RECORD, ITERO), ("meditlink", MEDIT_RECORD, MEDIT),
         ("3shape", THREESHAPE_RECORD, THREESHAPE)]
def _names(keys: PatientKeys) -> list[str]:
    """File names named after the patient, for vendors whose file names a person chooses (not iTero's)."""
    return ["Jane Doe smile.jpeg"] if keys.file_names else []


PATIENT_VALUES = ("jane", "doe", "ch-7", "991", "1990-01-02", "p-1", "pms-7")


@pytest.mark.parametrize(("vendor", "record", "keys"), CASES)
def test_drop_leaves_no_patient_value_in_the_order_as_published(vendor: str, record: dict[str, Any],
                                                                 keys: Any) -> None:
    order = Privacy("drop").order(_order(vendor, record, names=_names(keys)), keys)
    text = order.model_dump_json().lower()
    assert not [value for value in PATIENT_VALUES if value in text], text
    assert order.patient is None and order.notes is None


@pytest.mark.parametrize(("vendor", "record", "keys"), CASES)
def test_hash_replaces_every_patient_value_by_its_keyed_hash(vendor: str, record: dict[str, Any],
                                                              keys: Any) -> None:
    privacy = Privacy("hash", KEY.encode())
    order = privacy.order(_order(vendor, record, names=_names(keys)), keys)
    text = order.model_dump_json().lower()
    assert not [value for value in PATIENT_VALUES if value in text], text
    assert order.patient is not None and order.patient.last_name == privacy.hash("Doe")
    assert order.notes == privacy.hash("Jane's notes")


def test_hash_keeps_the_shape_of_the_record_and_what_is_no_patient_data() -> None:
    privacy = Privacy("hash", KEY.encode())
    itero = privacy.record(ITERO_RECORD, ITERO)
    assert itero["PATIENTLASTNAME"] == privacy.hash("Doe") and itero["PatientId"] == privacy.hash("991")
    assert itero["DoctorName"] == "Dr. Who" and itero["Preps"][0]["AdaId"] == 4
    assert itero["Preps"][0]["Patient"] == {"Name": privacy.hash("Jane")}
    medit = privacy.record(MEDIT_RECORD, MEDIT)
    assert medit["buyer"] == {"name": "D.Davis", "description": "clinic"}  # the clinic is not the patient
    assert medit["case"]["patient"] == {"name": privacy.hash("Jane Doe"), "code": privacy.hash("P-1")}
    assert medit["case"]["uuid"] == "u" and medit["delivery"][0]["status"] == "DONE"
    threeshape = privacy.record(THREESHAPE_RECORD, THREESHAPE)
    assert threeshape["AttachedImages"][0]["Id"] == "i" and threeshape["SentToLab"] == "Lab"


def test_a_hashed_file_name_keeps_its_extension() -> None:
    privacy = Privacy("hash", KEY.encode())
    assert privacy.file_name("Jane Doe smile.jpeg") == privacy.hash("Jane Doe smile.jpeg") + ".jpeg"
    assert Privacy("drop").file_name("Jane.jpeg") is None
    assert Privacy("keep").file_name("Jane.jpeg") == "Jane.jpeg"


def test_keep_changes_nothing() -> None:
    order = _order("itero", ITERO_RECORD)
    assert Privacy("keep").order(order, ITERO) == order


def test_a_dead_letter_copy_of_a_command_loses_its_patient_ids() -> None:
    command = Envelope(id="1", source="pms", type="command.watch_patients", partitionkey="c",
                       data={"connection": "c", "action": "watch", "integration_ids": ["PMS-7"]})
    assert "PMS-7" not in Privacy("drop").event(command).model_dump_json()
    assert Privacy("keep").event(command) == command


def test_log_references_are_keyed_and_short() -> None:
    with_key = Privacy("hash", KEY.encode()).ref("PMS-7")
    assert len(with_key) == 12 and with_key not in hashlib.sha256(b"PMS-7").hexdigest()
    assert with_key != Privacy("hash", OTHER_KEY.encode()).ref("PMS-7")


@pytest.mark.parametrize(("toml", "env", "says"), [
    ("", {"SCANBRIDGE_PRIVACY__PATIENT_FIELDS": "hash"}, 'privacy.patient_fields = "hash" needs a key'),
    (f'[privacy]\nhash_key = "{KEY}"\n', {}, "privacy.hash_key must not be in the TOML file"),
])
def test_the_service_refuses_to_start_in_one_line_that_says_where_the_key_goes(
        tmp_path: Path, toml: str, env: dict[str, str], says: str) -> None:
    config = tmp_path / "scanbridge.toml"
    config.write_text(toml)
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("SCANBRIDGE_") and k != "KAFKA_BOOTSTRAP"}
    done = subprocess.run([str(Path(sys.executable).with_name("scanbridge")), "worker"], capture_output=True,
                          text=True, timeout=60, env={**environ, "SCANBRIDGE_CONFIG": str(config), **env})
    assert done.returncode == 2
    assert says in done.stderr and "SCANBRIDGE_PRIVACY__HASH_KEY" in done.stderr
    assert KEY not in done.stderr and len(done.stderr.strip().splitlines()) == 1
