"""The webhook path's shortcuts (issue 16) give the answers of the general path they skip: orjson against
the standard JSON parser with the body rules, and the direct way to a hook route only where Starlette's
router would pick the same route with no other middleware to run."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from receiver.body import _parse_standard, parse_object
from receiver.errors import ApiError
from receiver.hookasgi import HookEndpoint, ReceiverApp
from receiver.itero import _usual, routes, validated
from schemas.inbound import IteroNotification

SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
           | st.floats(allow_nan=False) | st.text(max_size=12)
           | st.sampled_from(["\ud800", "0e8b7f7e-5b4c-4d8e-9f6a-1b2c3d4e5f60", " 42", "４２", "+1"]))
KEYS = st.text(max_size=10) | st.sampled_from(["Id", "CompanyId", "id", "COMPANYID"])
VALUES = SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(st.text(max_size=4), SCALARS)
BODIES = st.dictionaries(KEYS, VALUES, max_size=4)
CHECKS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(parse: Any, raw: bytes) -> Any:
    try:
        return ("value", parse(raw))
    except ApiError as exc:
        return ("refused", exc.status, exc.code)


def _raw(body: Any, how: int) -> bytes:
    text = json.dumps(body, ensure_ascii=how == 0)
    if how == 2:
        return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
    return text.encode("utf-8", "surrogatepass")


@CHECKS
@given(body=BODIES | st.lists(SCALARS, max_size=2) | SCALARS, how=st.integers(0, 2))
def test_parse_object_answers_as_the_standard_parser_with_the_body_rules(body: Any, how: int) -> None:
    raw = _raw(body, how)
    assert repr(_outcome(parse_object, raw)) == repr(_outcome(_parse_standard, raw))


def test_hook_routes_are_reached_directly_unless_another_middleware_is_installed() -> None:
    hooks = routes(settings=None, bus=None, shared=None)  # type: ignore[arg-type]  # not called here
    assert all(isinstance(route.endpoint, HookEndpoint) for route in hooks)
    plain = ReceiverApp(routes=hooks)
    assert sorted(plain._direct_routes()) == ["align", "itero"]

    class Other:
        def __init__(self, app: Any) -> None:
            self.app = app

    traced = ReceiverApp(routes=hooks)
    traced.add_middleware(Other)
    assert traced._direct_routes() == {}


GUIDS = st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper()) | st.uuids().map(lambda u: u.hex)
ITERO_VALUES = (GUIDS | st.integers(min_value=-5, max_value=10**21) | st.text(max_size=6)
                | st.sampled_from([None, True, 4242.0, " 42", "x"]))
ITERO_BODIES = st.dictionaries(st.sampled_from(["Id", "CompanyId", "id", "companyId", "Other"]), ITERO_VALUES,
                               max_size=3)


@CHECKS
@given(body=ITERO_BODIES)
def test_the_usual_itero_body_is_read_as_the_model_reads_it(body: dict[str, Any]) -> None:
    usual = _usual(body)
    try:
        model = IteroNotification.model_validate(body)
    except ValidationError:
        assert usual is None  # a body the model refuses is never the usual one
        return
    assert usual is None or usual == (model.id, model.companyid)


def test_the_usual_itero_body_takes_the_short_way() -> None:
    rx = "0E8B7F7E-5B4C-4D8E-9F6A-1B2C3D4E5F60"
    assert _usual({"Id": rx, "CompanyId": 4242}) == (rx.lower(), "4242")
    assert _usual({"Id": rx}) == (rx.lower(), None)
    # a CompanyId as text: the model's way, the same answer
    assert validated(json.dumps({"Id": rx, "CompanyId": "4242"}).encode()) == (rx.lower(), "4242")
