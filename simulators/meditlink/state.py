"""The simulator's whole state and the helpers tests use to change it (meditlink-openapi.txt §1, §3.3–3.5).

Time is `time.time()` shifted by `clock_offset_s`; `advance()` moves it, so expiry can be tested
without sleeping.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field

from simulators.meditlink.archives import BuiltArchive
from simulators.meditlink.callbacks import finish_upload
from simulators.meditlink.records import (
    AccessToken,
    AuthCode,
    CallbackRecord,
    Case,
    CaseFile,
    Client,
    Fault,
    Group,
    Order,
    Presigned,
    RefreshToken,
    Registration,
    RequestRecord,
    User,
    tooth_item,
)
from simulators.pollwatch import PollWatch

# Identifiers from the doc's examples (§1.1.1, §3.1.1, §3.5.1).
CLIENT_ID = "rLHYWvCKTpONpuc7L1L8FUXowgQMh6HO"
CLIENT_SECRET = "SGBb3Fa0EsRklPd0DrC02pFV7jsUVwEv"
CLINIC_UUID = "RC5EQVZJU18xNTQ4Mzc5OTMzODc0"
LAB_UUID = "T05FTEFCXzE1NDgzODA1Nzk0MzY="
CLINIC_EMAIL = "meditlink.api.clinic@medit.com"
LAB_EMAIL = "meditlink.api.lab@medit.com"
PASSWORD = "password"
_START_MS = 1548379933000  # 2019-01-25T01:32:13Z, dateCreated of the example group


def _default_groups() -> dict[str, Group]:
    return {
        CLINIC_UUID: Group(CLINIC_UUID, "D.Davis", "CLINIC", _START_MS, _START_MS, user_name="D.Davis"),
        LAB_UUID: Group(LAB_UUID, "OneLab", "LAB", _START_MS + 646666, _START_MS, user_name="Peter Parker"),
    }


def _default_users() -> dict[str, User]:
    return {
        CLINIC_EMAIL: User(CLINIC_EMAIL, PASSWORD, "D.Davis", CLINIC_UUID, _START_MS, _START_MS),
        LAB_EMAIL: User(LAB_EMAIL, PASSWORD, "Peter Parker", LAB_UUID, _START_MS, _START_MS),
    }


@dataclass
class MeditSimState:
    # Lifetimes, FAQ "How to handle token expiration": access 24 h, refresh 7 d; §3.4.1 URL 5 min;
    # §3.4.2 upload URL 30 min.
    access_ttl_s: float = 24 * 3600
    refresh_ttl_s: float = 7 * 24 * 3600
    code_ttl_s: float = 600
    url_ttl_s: float = 300
    upload_ttl_s: float = 1800
    # OAuth 2.1 rotation: a used refresh token is replaced and refused ever after, so two processes
    # refreshing one grant show up as invalid_grant. False: the same refresh token is handed back (the
    # FAQ's "When refresh_token is not renewed" reads either way).
    rotate_refresh_tokens: bool = True
    refresh_reuse: int = 0  # a spent (rotated) refresh token presented again
    default_file_size: int = 4096  # bytes of each archive member unless a file says otherwise
    compress_archives: bool = True  # LZMA2 like Medit; False stores (fast for big benchmarks)
    hostile_archive: bool = False  # every archive also carries `../evil.txt` and an absolute member
    misread_group_dates: bool = True  # buyer/seller dates of §3.5.2 as in the doc's example
    auto_process_uploads: bool = False  # post the callback right after a successful upload PUT
    lapse_next_uploads: int = 0  # the next N upload PUTs find their URL expired once the body arrived
    authorize_as: str = LAB_EMAIL  # the user who "logs in" at /oauth/authorize
    echo_state: bool = True  # False: redirect with `?code=…` only, as §1.2.1 Step #3's example shows
    public_base_url: str | None = None  # base of pre-signed URLs; default: the request's base URL
    clock_offset_s: float = 0.0
    clients: dict[str, Client] = field(default_factory=lambda: {CLIENT_ID: Client(CLIENT_ID, CLIENT_SECRET)})
    groups: dict[str, Group] = field(default_factory=_default_groups)
    users: dict[str, User] = field(default_factory=_default_users)
    cases: dict[str, Case] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    registrations: dict[str, Registration] = field(default_factory=dict)
    presigned: dict[str, Presigned] = field(default_factory=dict)  # by X-Amz-Signature
    archives: dict[str, BuiltArchive] = field(default_factory=dict)  # by object key
    faults: list[Fault] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    callbacks: list[CallbackRecord] = field(default_factory=list)
    next_order_number: int = 3706720
    polls: PollWatch = field(default_factory=PollWatch)  # orders/search and cases/search by group uuid
    list_delay_s: float = 0.0  # searches answer after this long (so overlapping polls can be seen)

    def __post_init__(self) -> None:
        self.polls.clock = self.now

    # -- clock ---------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self.clock_offset_s

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> None:
        """Move the simulated clock forward (tokens, codes and URLs expire by it)."""
        self.clock_offset_s += seconds

    # -- faults --------------------------------------------------------------------------------
    def fail_next(
        self,
        path_substring: str,
        status: int,
        count: int = 1,
        retry_after: float | None = None,
        method: str | None = None,
    ) -> None:
        """The next `count` requests whose path contains `path_substring` get `status`.
        A 429 carries `Retry-After` (default 1 s)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        self.faults.append(Fault(path_substring, count, status, 0.0, retry_after, method))

    def slow_next(
        self, path_substring: str, delay_s: float, count: int = 1, method: str | None = None
    ) -> None:
        """The next `count` matching requests are answered only after `delay_s`."""
        self.faults.append(Fault(path_substring, count, None, delay_s, None, method))

    def take_faults(self, method: str, path: str) -> tuple[float, Fault | None]:
        """Consume the matching rules: (delay before answering, failure to answer with)."""
        delay, failure = 0.0, None
        for fault in list(self.faults):
            if fault.path_substring not in path or (fault.method and fault.method != method):
                continue
            if fault.status is None and delay == 0.0:
                delay = fault.delay_s
            elif fault.status is not None and failure is None:
                failure = fault
            else:
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self.faults.remove(fault)
        return delay, failure

    # -- tokens --------------------------------------------------------------------------------
    def expire_access_tokens(self) -> None:
        """Every access token issued so far is now expired (the next API call gets 401)."""
        for token in self.access_tokens.values():
            token.expires_at = min(token.expires_at, self.now() - 1)

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token is revoked: refreshing gets 400 invalid_grant (re-authorization)."""
        for token in self.refresh_tokens.values():
            token.revoked = True

    # -- cases ---------------------------------------------------------------------------------
    def create_case(
        self,
        name: str = "Seolah.Jeon's Case",
        *,
        patient_name: str = "Seolah.Jeon",
        patient_code: str = "201222039",
        status: str = "SCAN",
        files: list[tuple[str, int | None]] | None = None,
        teeth: tuple[int, ...] = (45, 46, 47),
        tags: tuple[str, ...] = ("Dental",),
        group_uuid: str = CLINIC_UUID,
        hostile: bool = False,
    ) -> Case:
        """A case with scan files (default: maxillary and mandibular meshes) and a TEETH form."""
        now = self.now_ms()
        case = Case(
            uuid=str(uuid.uuid4()),
            group_uuid=group_uuid,
            name=name,
            status=status,
            patient_name=patient_name,
            patient_code=patient_code,
            created_ms=now,
            updated_ms=now,
            scanned_ms=None if status == "FORM" else now,
            tags=list(tags),
            form_items=[tooth_item(t, "PONTIC" if i % 2 else "CROWN") for i, t in enumerate(teeth)],
        )
        self.cases[case.uuid] = case
        wanted = [("maxillary.meditMesh", None), ("mandibular.meditMesh", None)] if files is None else files
        for file_name, size in wanted:
            self.add_file(case.uuid, file_name, size, hostile=hostile, touch=False)
        if case.files:
            case.multi_occlusion = [
                {"groupId": 1, "groupName": "CO Bite", "files": [f.uuid for f in case.files]}
            ]
        return case

    def add_file(
        self,
        case_uuid: str,
        name: str,
        size: int | None = None,
        file_type: str = "SCAN_DATA",
        *,
        hostile: bool = False,
        touch: bool = True,
        file_uuid: str | None = None,
    ) -> CaseFile:
        """Attach a file to a case; by default this bumps the case's dateUpdated."""
        case = self.cases[case_uuid]
        now = self.now_ms()
        size = self.default_file_size if size is None else size
        case_file = CaseFile(file_uuid or str(uuid.uuid4()), name, size, file_type, now, now, hostile)
        case.files.append(case_file)
        if touch:
            self.touch_case(case_uuid)
        return case_file

    def set_case_status(self, case_uuid: str, status: str) -> Case:
        case = self.cases[case_uuid]
        case.status = status
        if status != "FORM" and case.scanned_ms is None:
            case.scanned_ms = self.now_ms()
        return self.touch_case(case_uuid)

    def touch_case(self, case_uuid: str) -> Case:
        """Bump dateUpdated of the case and of every order that carries it."""
        case = self.cases[case_uuid]
        case.updated_ms = max(self.now_ms(), case.updated_ms + 1)
        for order in self.orders.values():
            if order.case_uuid == case_uuid:
                order.updated_ms = max(case.updated_ms, order.updated_ms + 1)
        return case

    def find_file(self, file_uuid: str) -> tuple[Case, CaseFile] | None:
        for case in self.cases.values():
            for case_file in case.files:
                if case_file.uuid == file_uuid:
                    return case, case_file
        return None

    # -- orders --------------------------------------------------------------------------------
    def create_order(
        self,
        case_uuid: str,
        *,
        buyer_uuid: str = CLINIC_UUID,
        seller_uuid: str = LAB_UUID,
        status: str = "PENDING",
        share_patient_name: bool = True,
        description: str = "",
    ) -> Order:
        now = self.now_ms()
        order = Order(
            number=self.next_order_number,
            case_uuid=case_uuid,
            buyer_uuid=buyer_uuid,
            seller_uuid=seller_uuid,
            status=status,
            created_ms=now,
            updated_ms=now,
            desired_delivery_ms=now + 7 * 86400 * 1000,
            description=description,
            share_patient_name=share_patient_name,
        )
        self.next_order_number += 1
        self.orders[order.number] = order
        return order

    def set_order_status(self, number: int, status: str) -> Order:
        order = self.orders[number]
        order.status = status
        return self.touch_order(number)

    def touch_order(self, number: int) -> Order:
        order = self.orders[number]
        order.updated_ms = max(self.now_ms(), order.updated_ms + 1)
        return order

    # -- visibility ----------------------------------------------------------------------------
    def case_visible(self, case: Case, group_uuid: str) -> bool:
        """The owning clinic sees its cases; a lab sees the cases ordered from it."""
        return case.group_uuid == group_uuid or any(
            o.case_uuid == case.uuid and o.seller_uuid == group_uuid for o in self.orders.values()
        )

    def shares_patient_name(self, case: Case, group_uuid: str) -> bool:
        """§3.3.1 patient.name: a lab sees it only if the clinic allowed 'Share Patient Name'."""
        return case.group_uuid == group_uuid or any(
            o.case_uuid == case.uuid and o.seller_uuid == group_uuid and o.share_patient_name
            for o in self.orders.values()
        )

    def new_secret(self) -> str:
        return secrets.token_hex(32)

    # -- uploads -------------------------------------------------------------------------------
    async def finish_processing(self, file_uuid: str, *, success: bool = True) -> CallbackRecord:
        """End the post-processing of an uploaded file (Appendix B step 3): on success the file
        joins its case as ATTACHED_DATA, and the result is POSTed to the registered callbackUrl."""
        return await finish_upload(self, self.registrations[file_uuid], success=success)
