"""3Shape Dental Desktop poller: no callbacks exist, so each watched patient's cases are read with
`GetCasesForPatient` over a moving creation (and delivery) date window and diffed against what was seen
(3shape-dental-desktop-pms-integration.txt, "/GetCasesForPatient", "Concept of patient mapping").

A changed case version → `order.updated` straight from here (the poll already returned the whole case,
and no documented method fetches one case by id without the patient's integration id); each new or
changed attached image → one `scan.notified` (learned_by="poll", file_id = image id) that the worker
turns into `artifact.stored` via "/GetAttachedImage". Event ids are deterministic, and `order.updated` is
on its topic exactly once as the worker's announcements are (consumers/announced.py: intent, send, marker;
an intent without its marker is looked for on the topic), so a round that sent it and then died, or could
not save what it saw, does not send it again at the next round of whichever instance holds the lease.

A `consumers.polling.Poller`: the runtime calls `poll` every `poll_interval_s` on the instance that holds
the connection's lease; a round polls the patients that are due (idle ones less often). The watch set and
what was seen per patient live in the state store (`watchlist`, `pollstate`), written fenced by the lease.
A watch command asks the runtime to poll at once (`Shared.poll_soon`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from bus.base import Bus
from bus.errors import EventTooLarge
from consumers import announced
from consumers.clock import Clock
from consumers.context import Shared
from consumers.errors import ServerError, Unauthorized, VendorError
from consumers.privacy import Privacy
from consumers.publish import Publisher
from consumers.threeshape.client import DentalDesktopClient
from consumers.threeshape.connection import open_http
from consumers.threeshape.normalize import PATIENT_KEYS, VENDOR, case_to_order
from consumers.threeshape.pollstate import PatientState, PollState, SeenCase
from consumers.threeshape.tls import UntrustedServer
from consumers.threeshape.watchlist import WatchList
from consumers.threeshape.xml import CaseInfo, InvalidResponse
from schemas.envelope import utcnow
from schemas.eventfactory import vendor_event
from schemas.events import Order, ScanNotified
from schemas.settings import Settings, ThreeShapeConnection
from schemas.topics import SCAN_NOTIFIED
from state.base import ConnectionKey, Lease

log = logging.getLogger(__name__)

_CONNECTION_ERRORS = (UntrustedServer, Unauthorized)  # every patient would fail alike: stop the round


def image_stamp(case: CaseInfo) -> dict[str, str]:
    return {i.id: i.timestamp.isoformat() if i.timestamp else "" for i in case.attached_images}


@dataclass
class PollResult:
    due: int = 0
    polled: int = 0
    failed: int = 0
    orders: int = 0
    images: int = 0
    connection_error: str | None = None
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class PollFailed(ServerError):
    """No patient of the server could be polled this round (the server, not one patient)."""


class ThreeShapePoller:
    """Polls one Dental Desktop server; one task per server, patients concurrently (bounded)."""

    def __init__(self, settings: Settings, connection: ThreeShapeConnection, bus: Bus, *, clock: Clock,
                 shared: Shared, wall: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.shared = shared
        self.connection = connection
        self.clock = clock
        self.publisher = Publisher(bus, settings.bus.topics, settings.events)
        self.privacy = Privacy.of(settings.privacy)
        self.key = ConnectionKey(VENDOR, connection.id)
        self.watchlist = WatchList(shared.state, connection)
        self.state = PollState(shared.state, self.key)
        self.patients: dict[str, PatientState] = {}  # of the watched patients, read at each round
        self.health: tuple[str, str | None] = ("ok", None)  # as last reported by this process
        self._lease: Lease | None = None
        self._adopted = False  # the watch file of an earlier version, if any, was imported
        self.counters: dict[str, int] = defaultdict(int)
        self._wall = wall
        self._http: httpx.AsyncClient | None = None
        self._due: dict[str, float] = {}  # integration id → clock time of its next poll
        self._refused_until = -math.inf  # after a refused pin or credentials: wait before trying again
        self.interval_s = connection.poll_interval_s
        self.host = connection.host

    @property
    def name(self) -> str:
        return f"{VENDOR}/{self.connection.id}"

    def wake(self) -> None:
        """Poll soon (a patient was added): the runtime starts a round at its next tick."""
        self.shared.poll_soon(self.key)

    async def poll(self, lease: Lease | None) -> str | None:
        """One round for the runtime; raises when the server could not be polled at all."""
        done = await self.poll_once(lease)
        if done.connection_error is not None or (done.failed and not done.polled):
            raise PollFailed(done.connection_error or f"{done.failed} patient(s) failed")
        if done.orders or done.images:
            return f"{done.orders} orders, {done.images} images notified"
        return None

    async def poll_once(self, lease: Lease | None = None, *, every_patient: bool = False) -> PollResult:
        """Poll the patients that are due (all with `every_patient`); never raises for one patient (the
        state store's errors do raise: a round that cannot remember what it saw publishes nothing more)."""
        self._lease = lease
        if not self._adopted:
            await self.watchlist.adopt_file(self.settings.state_dir)
            self._adopted = True
        watched = await self.watchlist.ids()
        await self.state.forget_except(set(watched), fence=lease)
        self.patients = await self.state.load(watched)
        now = self.clock.now()
        due = [p for p in watched if every_patient or self._due.get(p, -math.inf) <= now]
        result = PollResult(due=len(due))
        if not due or (now < self._refused_until and not every_patient):
            return result
        try:
            client = await self._client()
        except (UntrustedServer, ServerError) as exc:
            await self._connection_failed(exc, result)
            if isinstance(exc, UntrustedServer):
                self._refused_until = now + self.connection.idle_poll_interval_s
            return result
        stop_round = asyncio.Event()
        slots = asyncio.Semaphore(self.connection.max_concurrent_patients)
        await asyncio.gather(*(self._patient(client, p, slots, stop_round, result) for p in due))
        if result.connection_error is None and result.polled == 0 and result.failed:
            await self._connection_failed(ServerError("no patient could be polled"), result)
        elif result.polled:
            await self._set_health("ok", None)
        self.counters["rounds"] += 1
        return result

    async def _client(self) -> DentalDesktopClient:
        if self._http is None:
            self._http = await open_http(self.connection)  # TLS pin checked before any credentials
        return DentalDesktopClient(self._http, limits=self.settings.worker.limits)

    async def _drop_client(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def _set_health(self, status: str, reason: str | None) -> None:
        key, now = ConnectionKey(VENDOR, self.connection.id), self._wall()
        if status == "ok":
            await self.shared.health.ok(key, now)
        else:
            await self.shared.health.error(key, reason or status, now)
        if self.health != (status, reason):
            self.health = (status, reason)
            log.warning("3shape connection %s is %s%s", self.connection.id, status,
                        f": {reason}" if reason else "")

    async def _connection_failed(self, exc: Exception, result: PollResult) -> None:
        """Report the server failing; the next round opens a new connection (and checks the pin again)."""
        result.connection_error = f"{type(exc).__name__}: {exc}"
        self.counters["connection_errors"] += 1
        await self._set_health("failing", result.connection_error)
        await self._drop_client()

    async def _patient(self, client: DentalDesktopClient, integration_id: str, slots: asyncio.Semaphore,
                       stop_round: asyncio.Event, result: PollResult) -> None:
        async with slots:
            if stop_round.is_set():
                return
            ref = self.privacy.ref(integration_id)  # logs name a patient by a keyed reference only
            patient = self.patients.setdefault(integration_id, PatientState())
            try:
                async with asyncio.timeout(self.connection.patient_timeout_s):
                    cases = await self._cases(client, integration_id)
                await self._diff(integration_id, patient, cases, result)
                result.polled += 1
                self.counters["patients_polled"] += 1
            except _CONNECTION_ERRORS as exc:
                stop_round.set()
                result.failed += 1
                if result.connection_error is None:
                    await self._connection_failed(exc, result)
                # do not send refused credentials (or talk to an impostor) again at every round
                self._refused_until = self.clock.now() + self.connection.idle_poll_interval_s
            except (VendorError, TimeoutError, EventTooLarge) as exc:  # one patient never stops the rest
                kind = type(exc).__name__
                result.failed += 1
                result.errors[kind] += 1
                invalid = isinstance(exc, InvalidResponse)
                self.counters["invalid_responses" if invalid else "patient_errors"] += 1
                log.warning("3shape %s patient %s: %s", self.connection.id, ref, kind)
            finally:
                self._schedule(integration_id)

    def is_idle(self, integration_id: str) -> bool:
        """No change seen for `idle_after_s`: polled every `idle_poll_interval_s` instead."""
        patient = self.patients.get(integration_id)
        return bool(patient and patient.last_change_at and self._wall() - patient.last_change_at
                    > timedelta(seconds=self.connection.idle_after_s))

    def _schedule(self, integration_id: str) -> None:
        idle = self.is_idle(integration_id)
        interval = self.connection.idle_poll_interval_s if idle else self.connection.poll_interval_s
        self._due[integration_id] = self.clock.now() + interval

    async def _cases(self, client: DentalDesktopClient, integration_id: str) -> list[CaseInfo]:
        """Cases created in the window, plus (optionally) those delivered in theirs: one list by id."""
        today = self._wall().date()
        queries = [client.get_cases_for_patient(
            integration_id, created_from=today - timedelta(days=self.connection.creation_window_days))]
        if self.connection.delivery_window_days is not None:
            queries.append(client.get_cases_for_patient(
                integration_id, delivered_from=today - timedelta(days=self.connection.delivery_window_days)))
        found: dict[str, CaseInfo] = {}
        for cases in await asyncio.gather(*queries):
            found |= {case.case_id: case for case in cases}
        return list(found.values())

    async def _diff(self, integration_id: str, patient: PatientState, cases: list[CaseInfo],
                    result: PollResult) -> None:
        """Publish what changed, then remember exactly the cases of this answer."""
        now = self._wall()
        changed = False
        seen: dict[str, SeenCase] = {}
        for case in cases:
            before = patient.cases.get(case.case_id)
            order = self._order(case, before)
            stamps = image_stamp(case)
            if before is None or before.version != order.version:
                # No order claim as the worker takes: one poller per connection, the holder of its lease,
                # announces its cases (the worker's 3Shape handler never announces an order). The previous
                # status is the poll state's (`_order`), not the markers'.
                _, sent = await announced.announce_order_once(self.shared.state, self.publisher, order,
                                                              case.case_id, previous_from_markers=False)
                result.orders += sent
                changed = True
            for image_id, stamp in stamps.items():
                if before is None or before.images.get(image_id) != stamp:
                    await self._notify_image(order, image_id, stamp)
                    result.images += 1
            seen[case.case_id] = SeenCase(order.version, order.vendor_status or "", stamps)
        patient.cases = seen
        patient.last_polled_at = now
        if changed or patient.last_change_at is None:
            patient.last_change_at = now
        await self.state.save(integration_id, patient, fence=self._lease)

    def _order(self, case: CaseInfo, before: SeenCase | None) -> Order:
        order = case_to_order(case, account=self.connection.id, connection=self.connection.id,
                              server_host=self.connection.host)
        order = self.privacy.order(order, PATIENT_KEYS)
        update: dict[str, object] = {}
        if before is not None and before.version != order.version:
            update["previous_vendor_status"] = before.status
        return order.model_copy(update=update)

    async def _notify_image(self, order: Order, image_id: str, stamp: str) -> None:
        """One `scan.notified` per image version; same image and TimeStamp → same event id."""
        now = utcnow()
        account, case_id = self.connection.id, order.order_id
        notified = ScanNotified(vendor=VENDOR, account=account, connection=account, case_id=case_id,
                                order_id=case_id, file_id=image_id, status=order.vendor_status,
                                learned_by="poll", received_at=now, version=order.version)
        await self.publisher.bus.publish(self.settings.bus.topics.events, vendor_event(
            SCAN_NOTIFIED, vendor=VENDOR, account=account, subject=case_id,
            version=f"image/{image_id}/{stamp}", data=notified.model_dump(mode="json"), time=now,
        ))
        self.counters["images_notified"] += 1

    async def close(self) -> None:
        await self._drop_client()


def build_poller(settings: Settings, bus: Bus, clock: Clock, shared: Shared,
                 connection: object) -> ThreeShapePoller | None:
    """The poller of a Dental Desktop server (it opens its own pinned connection)."""
    if isinstance(connection, ThreeShapeConnection):
        return ThreeShapePoller(settings, connection, bus, clock=clock, shared=shared)
    return None
