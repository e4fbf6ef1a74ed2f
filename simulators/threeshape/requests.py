"""The write side of the simulated Dental Desktop server: patients, the request pool and the request
statuses (3shape-dental-desktop-pms-integration.txt "/CreatePatient", "/UpdatePatient", "/CreateCase",
"/SelectCase", "/GetRequestStatusById", "/RemoveRequestById", "Request status reference").

A method checks its parameters at once (a failure is a request status: 101, 102, 103, 104, 105, 106,
107, and the call answers 400 with it); a server operation (no ClientId) is then processed (4); a client
operation waits in the pool (-1) until a client picks it up (`pick_up`: 0) and handles it (`handle`: 4,
or the user's 1, or the client's 2, 6, 10, 108). `auto_handle` plays the client: each status read moves a
request one step on (-1 → 0 → the outcome). Only the last ten statuses are kept; a RequestId used twice
answers for the last use. Server-only requests sent to a client and client-only ones sent to the server
end with 5.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
KEPT_STATUSES = 10
DESCRIPTIONS = {
    -1: "The request was received by the server and awaits processing by the client.",
    0: "The request was accepted, and will be processed by the client",
    1: "The request was rejected on the client side.",
    2: "The request was rejected on the client side, due to failure in page navigation.",
    3: "The request was removed before it was handled.",
    4: "The request was processed.",
    5: "The request is not supported",
    6: "The request cannot be handled, the client is not responding.",
    10: "Could not process the request due to an exception (System.InvalidOperationException)",
    101: "You should set at least the integration ID for creating a case request.",
    102: "You should set at least the last name to search for existing patients or create new.",
    103: "You should set at least the case ID to view the case",
    104: "No cases found with the specified case ID",
    105: "SSN should be unique for the patient.",
    106: "No patient was found with the specified patient ID",
    107: "The patient with the same patient ID already exists",
    108: "Internal error",
    404: "A request with the specified ID was not found on the server.",
}
CLIENT_ONLY = frozenset({"createcase", "selectcase", "selectpatient"})


@dataclass
class Patient:
    last_name: str
    first_name: str = ""
    date_of_birth: str = ""
    patient_id: str = ""  # the visual id (SSN): unique when set
    integration_id: str = ""  # the PMS mapping: unique when set


@dataclass
class PoolRequest:
    request_id: str
    method: str
    params: dict[str, str]
    client_id: str | None
    status: int = -1
    outcome: int = 4  # what handling it ends with


@dataclass
class RequestPool:
    patients: list[Patient] = field(default_factory=list)
    statuses: OrderedDict[str, int] = field(default_factory=OrderedDict)  # the last ten, oldest first
    requests: dict[str, PoolRequest] = field(default_factory=dict)  # client requests by RequestId
    auto_handle: bool = True
    next_outcomes: list[int] = field(default_factory=list)  # the client's outcome of the next requests
    merge_into_existing: bool = True  # the user's choice in the merge dialog, when a patient matches
    client_ids: Callable[[], set[str]] = set  # the connected clients (a request for another stays -1)
    on_case: Callable[[str], object] | None = None  # CreateCase handled: make a case for this patient
    has_case: Callable[[str], bool] = lambda case_id: False

    # -- statuses --------------------------------------------------------------------------------------

    def _set(self, request_id: str, code: int) -> None:
        self.statuses.pop(request_id, None)
        self.statuses[request_id] = code
        while len(self.statuses) > KEPT_STATUSES:
            old, _ = self.statuses.popitem(last=False)
            self.requests.pop(old, None)

    def status(self, request_id: str) -> int:
        """GetRequestStatusById; with `auto_handle`, the client moves the request one step on."""
        request = self.requests.get(request_id)
        if request is not None and self.auto_handle and request.client_id in self.client_ids():
            if request.status == -1:
                self.pick_up(request_id)
            elif request.status == 0:
                self.handle(request_id)
        return self.statuses.get(request_id, 404)

    # -- the methods -----------------------------------------------------------------------------------

    def call(self, method: str, params: dict[str, str]) -> int:
        """One write method; the request status it leaves (a parameter failure at once)."""
        request_id = params.get("requestid") or EMPTY_GUID
        client = params.get("clientid") or None
        if client == EMPTY_GUID:
            client = None
        code = self._check(method, params)
        if code is None and method in CLIENT_ONLY and client is None:
            code = 5
        if code is not None:
            self._set(request_id, code)
            return code
        if client is None:  # a server operation: done at once
            self._apply(method, params)
            self._set(request_id, 4)
            return 4
        outcome = self.next_outcomes.pop(0) if self.next_outcomes else 4
        self.requests[request_id] = PoolRequest(request_id, method, params, client, outcome=outcome)
        self._set(request_id, -1)
        return -1

    def _check(self, method: str, params: dict[str, str]) -> int | None:
        integration = params.get("integrationid", "")
        if method in ("createpatient", "updatepatient"):
            if not integration:
                return 101
            if not params.get("lastname"):
                return 102
            mapped = self.patient(integration)
            if method == "createpatient" and mapped is not None:
                return 107
            if method == "updatepatient" and mapped is None:
                return 106
            ssn = params.get("patientid", "")
            if ssn and any(p.patient_id == ssn and p is not mapped for p in self.patients):
                return 105
        elif method in ("createcase", "selectpatient"):
            if not integration:
                return 101
            if self.patient(integration) is None:
                return 106
        elif method == "selectcase":
            if not params.get("caseid"):
                return 103
            if not self.has_case(params["caseid"]):
                return 104
        return None

    def _apply(self, method: str, params: dict[str, str]) -> None:
        fields = {"first_name": params.get("firstname", ""), "last_name": params.get("lastname", ""),
                  "date_of_birth": params.get("dateofbirth", ""), "patient_id": params.get("patientid", "")}
        if method == "createpatient":
            merged = params.get("mergepatient", "").lower() == "true" and params.get("clientid")
            similar = [p for p in self.patients if not p.integration_id
                       and (p.first_name, p.last_name) == (fields["first_name"], fields["last_name"])]
            if merged and similar and self.merge_into_existing:
                similar[0].integration_id = params["integrationid"]  # the user kept the existing patient
            else:
                self.patients.append(Patient(integration_id=params["integrationid"], **fields))
        elif method == "updatepatient":
            patient = self.patient(params["integrationid"])
            if patient is not None:  # an omitted parameter is an empty value: it erases the field
                for name, value in fields.items():
                    setattr(patient, name, value)
        elif method == "createcase" and self.on_case is not None:
            self.on_case(params["integrationid"])

    # -- the client ------------------------------------------------------------------------------------

    def pick_up(self, request_id: str) -> None:
        request = self.requests[request_id]
        request.status = 0
        self._set(request_id, 0)

    def handle(self, request_id: str) -> None:
        request = self.requests.pop(request_id)
        if request.outcome == 4:
            self._apply(request.method, request.params)
        self._set(request_id, request.outcome)

    def remove(self, request_id: str) -> bool:
        """RemoveRequestById: only a request still waiting in the pool (-1) is removed."""
        request = self.requests.get(request_id)
        if request is None or request.status != -1:
            return False
        del self.requests[request_id]
        self._set(request_id, 3)
        return True

    def patient(self, integration_id: str) -> Patient | None:
        return next((p for p in self.patients if p.integration_id == integration_id), None)

