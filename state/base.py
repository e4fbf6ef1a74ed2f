"""The state store interface shared by the SQLite and PostgreSQL backends (DESIGN.md §7).

One `StateStore` groups small stores, one per kind of shared state. Every row belongs to a
connection (`ConnectionKey`), so an unreadable row is reported with the connection it belongs to.
Writes that only the holder of a connection's lease may make take `fence=`: the store refuses them
(`StaleLease`) once another holder took the lease, whose fencing token is then higher.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Status = Literal["active", "failing", "unpaired", "needs_reauthorization"]
FailureStatus = Literal["failing", "unpaired", "needs_reauthorization"]
Source = Literal["toml", "runtime"]


@dataclass(frozen=True, order=True)
class ConnectionKey:
    vendor: str
    id: str

    def __str__(self) -> str:
        return f"{self.vendor}/{self.id}"


@dataclass(frozen=True)
class Connection:
    """One configured connection: the vendor's connection model as JSON (sealed at rest: it holds secrets)."""

    key: ConnectionKey
    settings: Mapping[str, Any]
    source: Source = "runtime"
    revision: int = 0  # set by the store: the store-wide connections revision of its last change


@dataclass(frozen=True)
class Health:
    status: Status = "active"
    last_success_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error: str | None = None
    failing_since: datetime | None = None


@dataclass(frozen=True)
class Credentials:
    """A connection's grant. `extra` holds what a vendor adds (group uuid, refresh token expiry, scope)."""

    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    version: int = 0  # set by the store; grows with every write


@dataclass(frozen=True)
class Lease:
    """Who does a connection's once-only work (polling, token refresh) until `expires_at` (store clock)."""

    key: ConnectionKey
    owner: str
    token: int  # the fencing token: grows each time the lease changes hands
    expires_at: datetime


@dataclass(frozen=True)
class Claim:
    """Who handles an order (its partition key) until `expires_at` (store clock); `token`: this taking."""

    name: str
    owner: str
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class Entry:
    """A versioned JSON value (a poller's cursor, say); `version` drives compare-and-set."""

    value: Any
    version: int


@dataclass(frozen=True)
class PendingAuthorization:
    """An OAuth2 `state` handed out with an authorize URL, until its redirect comes back (once)."""

    key: ConnectionKey
    redirect_uri: str
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. a PKCE code verifier


@dataclass(frozen=True, order=True)
class MarkerKey:
    """One announced artifact: per order version and file."""

    vendor: str
    account: str
    order: str
    version: str
    file: str


@dataclass(frozen=True)
class Marker:
    key: MarkerKey
    data: Mapping[str, Any]  # what the announcement said (event id, digest, location)
    created_at: datetime | None = None  # set by the store
    artifact_id: str | None = None  # the announced artifact's id (the artifact route looks it up)


NeedsRefresh = Callable[[Credentials], bool]
Refresh = Callable[[Credentials], Awaitable[Credentials]]


class Connections(Protocol):
    async def put(self, connection: Connection, *, only_if_absent: bool = False) -> bool:
        """Add or replace (or, with `only_if_absent`, only add); True when written."""
        ...

    async def get(self, key: ConnectionKey) -> Connection | None: ...

    async def list(self, vendor: str | None = None) -> list[Connection]: ...

    async def remove(self, key: ConnectionKey) -> bool:
        """Forget the connection, its health and its credentials; its progress rows stay."""
        ...

    async def revision(self) -> int:
        """Grows with every change of any connection: poll it to notice changes cheaply."""
        ...

    async def health(self, key: ConnectionKey) -> Health: ...

    async def record_success(self, key: ConnectionKey, at: datetime | None = None) -> bool:
        """Mark active; True when the status changed."""
        ...

    async def record_failure(
        self, key: ConnectionKey, status: FailureStatus, error: str, at: datetime | None = None
    ) -> bool:
        """Record a failure (no secrets in `error`); True when the status changed. A `failing` call does
        not hide an `unpaired` or `needs_reauthorization` connection (only a success or a reset does)."""
        ...

    async def clear_health(self, key: ConnectionKey) -> bool:
        """Forget the connection's health (an operator reset it): it reads as new and active."""
        ...


class CredentialStore(Protocol):
    async def get(self, key: ConnectionKey) -> Credentials | None: ...

    async def put(
        self, key: ConnectionKey, credentials: Credentials, *, if_version: int | None = None
    ) -> Credentials:
        """Write (sealed); with `if_version` only over that version (0: only if absent)."""
        ...

    async def delete(self, key: ConnectionKey) -> bool: ...

    async def refresh(self, key: ConnectionKey, needs_refresh: NeedsRefresh, refresh: Refresh) -> Credentials:
        """Single-flight across processes and hosts: under the store's lock, re-read; call `refresh`
        only if `needs_refresh` still says so; write its answer atomically. A `refresh` that raises
        writes nothing. CredentialsMissing when the connection has none."""
        ...


class Leases(Protocol):
    async def acquire(self, key: ConnectionKey, owner: str, ttl_s: float) -> Lease | None:
        """Take the lease if free or lapsed (a new, higher token), renew it if `owner` holds it; else None."""
        ...

    async def renew(self, lease: Lease, ttl_s: float) -> Lease:
        """Extend; raises StaleLease when another holder took it since."""
        ...

    async def release(self, lease: Lease) -> bool: ...

    async def holder(self, key: ConnectionKey) -> Lease | None:
        """The current, unexpired lease of the connection, if any."""
        ...

    async def holders(self, vendor: str) -> list[Lease]:
        """The current, unexpired leases of every key of `vendor` (the poller runtime's members)."""
        ...


class Claims(Protocol):
    """One worker at a time per order, across hosts (state/tables/claims.py)."""

    async def acquire(self, name: str, owner: str, ttl_s: float) -> Claim | None:
        """Take the claim if free or lapsed (a new token); None while another holds it, even `owner`."""
        ...

    async def renew(self, claim: Claim, ttl_s: float) -> Claim:
        """Extend; raises StaleLease when it was taken over (a lapsed one nobody took still renews)."""
        ...

    async def release(self, claim: Claim) -> bool:
        """Give it up (the row goes); False when it was not this claim's any more."""
        ...

    async def holder(self, name: str) -> Claim | None:
        """The current, unexpired claim of `name`, if any."""
        ...


class Entries(Protocol):
    """Versioned JSON values per connection and name: poller cursors, poll state."""

    async def get(self, key: ConnectionKey, name: str) -> Entry | None: ...

    async def put(
        self, key: ConnectionKey, name: str, value: Any, *, if_version: int | None = None,
        fence: Lease | None = None,
    ) -> int:
        """Write; with `if_version` only over that version (0: only if absent). Returns the new version."""
        ...

    async def delete(self, key: ConnectionKey, name: str, *, fence: Lease | None = None) -> bool: ...

    async def all(self, key: ConnectionKey) -> dict[str, Entry]:
        """Every entry of the connection, by name (the console lists the command log with it)."""
        ...


class Maps(Protocol):
    """String → string maps per connection: last-seen versions, the iTero OrderId → Rx index."""

    async def get(self, key: ConnectionKey, name: str, items: Iterable[str]) -> dict[str, str]: ...

    async def items(self, key: ConnectionKey, name: str) -> dict[str, str]: ...

    async def put(
        self, key: ConnectionKey, name: str, items: Mapping[str, str], *, fence: Lease | None = None
    ) -> None: ...

    async def prune(
        self, key: ConnectionKey, name: str, before: datetime, *, fence: Lease | None = None
    ) -> int:
        """Forget items last written before `before`; returns how many."""
        ...


class Sets(Protocol):
    """Ordered sets of strings per connection: 3Shape watch sets."""

    async def members(self, key: ConnectionKey, name: str) -> list[str]:
        """In the order they were first added."""
        ...

    async def add(self, key: ConnectionKey, name: str, members: Iterable[str]) -> list[str]:
        """Returns those that were not members before."""
        ...

    async def remove(self, key: ConnectionKey, name: str, members: Iterable[str]) -> list[str]:
        """Returns those that were members."""
        ...


class Markers(Protocol):
    async def put_if_absent(self, marker: Marker) -> bool:
        """True if this call recorded it; False if it was already there (the earlier one stays)."""
        ...

    async def get(self, key: MarkerKey) -> Marker | None:
        """The marker, or None; CorruptState (naming the order's account) when its row cannot be read."""
        ...

    async def get_files(self, key: MarkerKey, files: Sequence[str]) -> dict[str, Marker]:
        """The markers of `files` of `key`'s order version (its own `file` ignored) that exist, by file: one
        read for a marker and its intent (consumers/announced.py)."""
        ...

    async def find(self, artifact_id: str) -> Marker | None:
        """The marker that announced the artifact with this id."""
        ...

    async def latest(self, vendor: str, account: str, order: str, file: str) -> Marker | None:
        """The marker of `file` written last over all versions of the order."""
        ...

    async def aged(self, before: datetime) -> tuple[int, int]:
        """How many markers were written before `before`, and their size in bytes (retention's plan)."""
        ...

    async def prune(self, before: datetime) -> int:
        """Forget the markers written before `before`; returns how many."""
        ...


class OAuthStates(Protocol):
    async def put(self, state: str, pending: PendingAuthorization, ttl_s: float) -> None: ...

    async def take(self, state: str) -> PendingAuthorization | None:
        """The pending authorization, consumed: a second take, or one after `ttl_s`, gives None."""
        ...

    async def take_recent(self, vendor: str, connections: Iterable[str],
                          within_s: float) -> list[PendingAuthorization]:
        """Consume every unexpired authorization of these connections started in the last `within_s`
        (a redirect without `state`: its caller accepts exactly one and refuses the rest)."""
        ...

    async def pending(self, key: ConnectionKey) -> int:
        """How many authorizations of the connection wait for their redirect."""
        ...


class StateStore(Protocol):
    connections: Connections
    credentials: CredentialStore
    leases: Leases
    claims: Claims
    entries: Entries
    maps: Maps
    sets: Sets
    markers: Markers
    oauth: OAuthStates
    subscriptions: Subscriptions
    audit: AuditLog
    orders: OrdersIndex

    async def start(self) -> None:
        """Connect and run the schema migrations not yet applied."""
        ...

    async def close(self) -> None: ...

    async def ready(self) -> bool:
        """True when the store answers now."""
        ...

    async def reseal(self) -> int:
        """Re-encrypt every sealed row with the newest key (key rotation); returns the rows rewritten."""
        ...


SubscriptionStatus = Literal["active", "disabled"]


@dataclass(frozen=True)
class SigningSecret:
    """A Standard Webhooks secret (`whsec_…`); an old one still signs `until` a rotation's grace ends."""

    secret: str
    until: datetime | None = None


@dataclass(frozen=True)
class Subscription:
    """An HTTP endpoint that receives events signed with the Standard Webhooks scheme. URL and secrets are
    sealed at rest (a URL may carry a token). Empty `vendors` / `accounts`: every one; `event_types` may
    hold `*`."""

    id: str
    url: str
    secrets: tuple[SigningSecret, ...]
    event_types: tuple[str, ...] = ("*",)
    vendors: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    allow_private: bool = False
    status: SubscriptionStatus = "active"
    created_at: datetime | None = None  # set by the store
    failing_since: datetime | None = None
    last_error: str | None = None
    disabled_at: datetime | None = None
    revision: int = 0  # set by the store: the store-wide subscriptions revision of its last change


@dataclass(frozen=True)
class DeadDelivery:
    """An event a subscription's endpoint refused for good (a 4xx that a retry cannot change), kept to be
    re-sent (`scanbridge subscriptions dead-letters --resend`)."""

    subscription: str
    event_id: str
    topic: str
    event: Mapping[str, Any]  # the CloudEvent, structured JSON form
    reason: str
    attempts: int
    created_at: datetime | None = None  # set by the store


class Subscriptions(Protocol):
    async def add(self, subscription: Subscription) -> bool:
        """Add; False when the id exists (nothing changed)."""
        ...

    async def get(self, subscription_id: str) -> Subscription | None: ...

    async def list(self) -> list[Subscription]: ...

    async def remove(self, subscription_id: str) -> bool:
        """Forget it, what was delivered to it and its dead letters."""
        ...

    async def set_secrets(self, subscription_id: str, secrets: tuple[SigningSecret, ...]) -> bool: ...

    async def revision(self) -> int:
        """Grows with every change of any subscription: poll it to notice changes cheaply."""
        ...

    async def record_failure(self, subscription_id: str, error: str, at: datetime) -> datetime:
        """Note a failed delivery; returns since when the endpoint fails (kept from the first failure)."""
        ...

    async def record_success(self, subscription_id: str) -> None:
        """The endpoint answered: it is not failing any more."""
        ...

    async def disable(self, subscription_id: str, at: datetime) -> bool:
        """Mark disabled; True when it was active."""
        ...

    async def enable(self, subscription_id: str) -> bool:
        """Mark active again, not failing; True when it was disabled."""
        ...

    async def delivered(self, subscription_id: str, event_id: str) -> bool: ...

    async def mark_delivered(self, subscription_id: str, event_id: str) -> None: ...

    async def prune_delivered(self, before: datetime) -> int:
        """Forget deliveries recorded before `before` (every subscription); returns how many."""
        ...

    async def add_dead_letter(self, letter: DeadDelivery) -> None: ...

    async def dead_letters(self, subscription_id: str) -> builtins.list[DeadDelivery]:
        """Oldest first (by when recorded, to the millisecond)."""
        ...

    async def remove_dead_letter(self, subscription_id: str, event_id: str) -> bool: ...


@dataclass(frozen=True)
class AuditRecord:
    """One thing an operator did (the console): who, what, on what, when. `detail` never holds secrets or
    patient data (a reveal records which order was revealed, not what it showed)."""

    actor: str
    action: str
    target: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    at: datetime | None = None  # set by the store
    seq: int = 0  # set by the store: grows with every record


class AuditLog(Protocol):
    async def record(self, record: AuditRecord) -> AuditRecord:
        """Append; returns it with its time and sequence number."""
        ...

    async def recent(self, limit: int = 100, actor: str | None = None) -> builtins.list[AuditRecord]:
        """Newest first."""
        ...

    async def aged(self, before: datetime) -> tuple[int, int]:
        """How many records were written before `before`, and their size in bytes (retention's plan)."""
        ...

    async def prune(self, before: datetime) -> int:
        """Forget the records written before `before`; returns how many."""
        ...


@dataclass(frozen=True, order=True)
class OrderKey:
    vendor: str
    account: str
    order: str

    def __str__(self) -> str:
        return f"{self.vendor}/{self.account}/{self.order}"


@dataclass(frozen=True)
class IndexedEvent:
    """What the orders index keeps of one event of an order: ids in the clear (searched), the rest sealed
    (`summary` for the timeline; `patient`, from an `order.updated`, only shown when revealed)."""

    key: OrderKey
    event_id: str
    type: str
    at: datetime
    version: str | None = None
    rx_id: str | None = None
    case_id: str | None = None
    order_code: str | None = None
    stage: str | None = None
    patient: Mapping[str, Any] | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)
    artifact: bool = False  # an artifact.stored: counted on the order


@dataclass(frozen=True)
class OrderSummary:
    key: OrderKey
    rx_id: str | None
    case_id: str | None
    order_code: str | None
    stage: str | None
    version: str | None
    first_at: datetime
    last_at: datetime
    events: int
    artifacts: int


@dataclass(frozen=True)
class OrderQuery:
    """Empty fields match everything; `ident` is an order, Rx, case id or order code (exact)."""

    vendor: str | None = None
    account: str | None = None
    ident: str | None = None
    since: datetime | None = None  # last event at or after
    until: datetime | None = None  # last event before
    limit: int = 50


@dataclass(frozen=True)
class TimelineItem:
    event_id: str
    type: str
    version: str | None
    at: datetime
    summary: Mapping[str, Any]


class OrdersIndex(Protocol):
    async def record(self, events: Iterable[IndexedEvent]) -> int:
        """Add the events not indexed yet (by event id, per order), in one transaction; how many were new."""
        ...

    async def search(self, query: OrderQuery) -> builtins.list[OrderSummary]:
        """Most recently changed first, at most `query.limit`."""
        ...

    async def get(self, key: OrderKey) -> OrderSummary | None: ...

    async def timeline(self, key: OrderKey) -> builtins.list[TimelineItem]:
        """Every indexed event of the order, oldest first."""
        ...

    async def patient(self, key: OrderKey) -> Mapping[str, Any] | None:
        """The patient fields of the order's latest `order.updated` (as the privacy policy left them)."""
        ...

    async def aged(self, before: datetime) -> tuple[int, int]:
        """How many orders had their last event before `before`, and their size in bytes with their events'
        (retention's plan)."""
        ...

    async def prune(self, before: datetime) -> int:
        """Forget the orders whose last event is before `before`, with their timelines; returns how many
        orders. An event of one indexed again later starts a new entry."""
        ...
