"""The `data` models of each normalized event type (EVENTS.md); JSON Schemas are generated from them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Stage = Literal[
    "pending", "scanned", "modeling", "review", "production", "shipped", "completed",
    "canceled", "rejected", "unknown",
]
ArtifactKind = Literal["scan_3d", "images", "screen_captures", "attachment", "clinical_photo"]
LearnedBy = Literal["webhook", "poll", "replay"]


class _Data(BaseModel):
    # A validation error names the field, never its value: its text reaches logs and dead letters,
    # and the value may be a patient's (whatever `privacy.patient_fields` says).
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class OrderRef(_Data):
    """Which order (and which version of it) an event is about."""

    vendor: str
    account: str
    order_id: str
    version: str | None = None


class ScanNotified(_Data):
    """A vendor told us, or a poller saw, that something changed: vendor ids only."""

    vendor: str
    account: str
    connection: str
    rx_id: str | None = None
    order_id: str | None = None
    case_id: str | None = None
    file_id: str | None = None
    status: str | None = None
    learned_by: LearnedBy
    received_at: datetime
    inbound_id: str | None = None
    version: str | None = Field(
        default=None, description="what the signal says changed, when it says (polls do)"
    )
    command_id: str | None = Field(
        default=None, description="the command whose vendor answer this is (a Medit upload callback)"
    )


class Tooth(_Data):
    fdi: int | None = None
    universal: int | None = None
    unit_type: str | None = None
    material: str | None = None
    shade: str | None = None
    bridge_id: str | None = None


class Patient(_Data):
    """PII: kept, hashed or dropped per deployment (`privacy.patient_fields`)."""

    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    chart_number: str | None = None
    date_of_birth: str | None = None
    vendor_patient_id: str | None = None


class Party(_Data):
    id: str | None = None
    name: str | None = None
    license: str | None = None


class ArtifactRef(_Data):
    """Something the order says can be downloaded."""

    kind: ArtifactKind
    vendor_ref: str
    name: str | None = None
    url_host: str | None = None
    expected_size: int | None = None
    checksum_algorithm: str | None = None
    checksum: str | None = None


class Order(_Data):
    """The full order as fetched and normalized (`order.updated`)."""

    vendor: str
    account: str
    account_name: str | None = None
    connection: str
    order_id: str
    rx_id: str | None = None
    case_id: str | None = None
    order_code: str | None = None
    stage: Stage
    vendor_status: str | None = None
    previous_vendor_status: str | None = None
    procedure: str | None = None
    teeth: list[Tooth] = Field(default_factory=list)
    patient: Patient | None = None
    doctor: Party | None = None
    clinic: Party | None = None
    lab: Party | None = None
    scanned_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    due_at: datetime | None = None
    scanner: str | None = None
    notes: str | None = None
    viewer_url: str | None = None
    artifacts: list[ArtifactRef] = Field(default_factory=list)
    version: str
    vendor_record: dict[str, Any]
    truncated: list[str] = Field(
        default_factory=list,
        description="fields cut to the deployment's caps (`events` settings), as dotted paths; "
        "`vendor_record` here means it was replaced by a summary under the key `_scanbridge`",
    )


class VendorChecksum(_Data):
    algorithm: str
    value: str
    verified: bool


class StoredArtifact(_Data):
    """One artifact downloaded, verified and stored (`artifact.stored`)."""

    order: OrderRef
    kind: ArtifactKind
    file_name: str
    media_type: str
    size: int
    sha256: str
    vendor_checksum: VendorChecksum | None = None
    storage_uri: str = Field(description="where to fetch it: s3://bucket/key or file:///path")
    relative_path: str
    source_host: str
    stored_at: datetime
    artifact_id: str | None = Field(
        default=None, description="stable id of this artifact (order version, kind, file)"
    )
    bucket: str | None = Field(default=None, description="S3: the bucket")
    key: str | None = Field(default=None, description="S3: the object key; folder: the path under the root")
    etag: str | None = Field(default=None, description="S3: the object's ETag, as the store returned it")
    version_id: str | None = Field(default=None, description="S3: the object version, on versioned buckets")


class ArtifactFailed(_Data):
    """An artifact that could not be fetched, why, and how to retry it."""

    order: OrderRef
    kind: ArtifactKind | None = None
    vendor_ref: str | None = None
    reason: str
    attempts: int
    retry_hint: str


class ArtifactOutcome(_Data):
    """How one artifact of an order version settled (`order.completed`)."""

    kind: ArtifactKind
    artifact_id: str = Field(description="the id of the artifact.stored or artifact.failed event about it")
    outcome: Literal["stored", "failed"]
    vendor_ref: str | None = None
    file_name: str | None = None
    size: int | None = Field(None, description="stored: bytes")
    sha256: str | None = Field(None, description="stored: hex digest of the bytes")
    storage_uri: str | None = Field(None, description="stored: where to get the bytes")
    reason: str | None = Field(None, description="failed: why")


class OrderCompleted(_Data):
    """Every artifact of an order version was stored or failed: the list, once per version (EVENTS.md
    "order.completed"). A lab system waits for it before it imports a case."""

    order: OrderRef
    artifacts: list[ArtifactOutcome]
    stored: int = Field(description="how many of `artifacts` were stored")
    failed: int = Field(description="how many of `artifacts` failed (a dead letter holds their retry)")
    completed_at: datetime


class SubscriptionDisabled(_Data):
    """An HTTP subscription's endpoint kept failing for longer than allowed and was disabled; its events
    wait on the bus until `scanbridge subscriptions enable` (README "Delivering to HTTP endpoints")."""

    subscription: str
    endpoint_host: str = Field(description="the endpoint's host (never the full URL: it may hold secrets)")
    failing_since: datetime
    disabled_at: datetime
    last_error: str | None = None
    how: str = Field(description="what an operator runs to deliver again")


class OperatorAction(_Data):
    """Something an operator did in the console (README "Console"): who, what, on what, when; the same
    record as the state store's audit log. Never secrets or patient data (a patient reveal names the
    order, not what it showed)."""

    actor: str = Field(description="the operator's name (`admin` for the admin secret)")
    action: str = Field(description="e.g. sign_in, connection.edit, deadletter.retry, order.reveal_patient")
    target: str = Field(description="what it acted on (a connection, order, dead letter id), or -")
    detail: dict[str, Any] = Field(default_factory=dict)
    seq: int = Field(description="the audit log's sequence number")
    at: datetime | None = None


class ReauthorizationNeeded(_Data):
    """A connection's refresh token is about to lapse or was refused, or the connection was configured
    but never connected: a person must authorize (again) (meditlink-openapi.txt FAQ "How to handle token
    expiration"). Published once per change of state. No secrets in here."""

    vendor: str
    account: str | None = None
    connection: str
    reason: Literal["refresh_token_expiring", "refresh_token_refused", "not_connected"]
    refresh_token_expires_at: datetime | None = None
    detected_at: datetime
    how: str = Field(description="what an operator runs to authorize again")


class ConnectionStatus(_Data):
    """A connection's persisted state, listed by `scanbridge connections`. `unpaired`: a 401 that the
    refresh-token exchange could not cure (Align lab guideline §3.8.2); not polled or fetched until reset."""

    vendor: str
    account: str
    connection: str
    status: Literal["active", "unpaired"]
    since: datetime
    reason: str | None = None


class WatchPatients(_Data):
    """A command on the commands topic (type `command.watch_patients`), e.g. from a practice-management
    system: start or stop watching patients' 3Shape cases by their integration ids
    (3shape-dental-desktop-pms-integration.txt, "Concept of patient mapping"). Partition key: connection."""

    vendor: Literal["3shape"] = "3shape"
    connection: str = Field(description="the [[threeshape]] connection id")
    action: Literal["watch", "unwatch"]
    integration_ids: list[str] = Field(min_length=1, max_length=1000)


EVENT_MODELS: dict[str, type[BaseModel]] = {
    "scan.notified": ScanNotified,
    "order.updated": Order,
    "artifact.stored": StoredArtifact,
    "artifact.failed": ArtifactFailed,
    "connection.reauthorization_needed": ReauthorizationNeeded,
    "command.watch_patients": WatchPatients,
    "order.completed": OrderCompleted,
    "subscription.disabled": SubscriptionDisabled,
    "operator.action": OperatorAction,
}
