"""Property-based sweep of every receiver route (issue 10 item 6): whatever the path, headers and body,
the answer is never a 5xx, every refusal is a JSON error, and a non-2xx publishes nothing while a 2xx
publishes exactly the inbound record and its `scan.notified`. About 3,000 requests per `make test`
run; the `slow` variants run twenty times as many."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.conftest import TOKEN, Receiver

# -- what a hostile sender can put in a body ------------------------------------------------------

SURROGATES = ["\\ud800", "\\udbff", "\\udc00", "\\udfff", "\\ud83d"]
ATTACK_IDS = ["../../x", "1?admin=true#", "..", ".", "", "%2e%2e", "a/b", "x" * 300, "\u202e", "\x00"]
scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
           | st.uuids().map(str) | st.uuids().map(lambda u: f"{{{u}}}") | st.sampled_from(ATTACK_IDS)
           | st.integers(min_value=10**18, max_value=10**40))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
ITERO_KEYS = ["Id", "id", "ID", "CompanyId", "companyid", "COMPANYID", "Extra"]
MEDIT_KEYS = ["uuid", "fileUuid", "file_uuid", "caseUuid", "CASE-ID", "orderNumber", "order_no", "status",
              "result", "case", "order", "file", "data"]


def objects(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Any object over the route's key names, or one close to a documented notification (which the
    receiver accepts and publishes: the 2xx half of the property)."""
    near_valid = st.fixed_dictionaries(
        {"Id": st.uuids().map(str) | scalars},
        optional={"CompanyId": st.sampled_from([4242, "4242", 4242.0]) | scalars, "Extra": values,
                  "caseUuid": st.uuids().map(str) | scalars, "orderNumber": st.integers(0, 10**8) | scalars},
    )
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=10), values, max_size=6) | near_valid


@st.composite
def encoded(draw: st.DrawFn, keys: list[str]) -> bytes:
    """A JSON document, sometimes damaged: surrogate escapes spliced in, constants, odd encodings."""
    text = json.dumps(draw(objects(keys)), ensure_ascii=draw(st.booleans()))
    damage = draw(st.sampled_from(["none", "none", "surrogate", "utf16", "latin1", "truncate"]))
    if damage == "surrogate" and '"' in text:
        at = text.index('"') + 1
        text = text[:at] + draw(st.sampled_from(SURROGATES)) + text[at:]
    elif damage == "utf16":
        return text.encode("utf-16")
    elif damage == "latin1":
        return text.encode("latin-1", errors="replace") + b"\xff"
    elif damage == "truncate":
        return text.encode()[: draw(st.integers(0, max(0, len(text) - 1)))]
    return text.encode()


@st.composite
def attacks(draw: st.DrawFn) -> bytes:
    """The classes that broke the receiver: deep nesting, huge integers, non-JSON bytes."""
    kind = draw(st.sampled_from(["deep", "deep_in_object", "big_int", "bytes", "constants"]))
    if kind == "deep":
        n = draw(st.integers(1, 33_000))
        return b"[" * n + b"]" * n
    if kind == "deep_in_object":
        n = draw(st.integers(1, 12_000))
        return b'{"a":' * n + b"0" + b"}" * n
    if kind == "big_int":
        return b'{"Id": "0c1e0a2f-5d1c-4bb0-9d7e-2f0a3b4c5d6e", "CompanyId": ' + b"7" * draw(
            st.integers(4_200, 60_000)) + b"}"
    if kind == "constants":
        return draw(st.sampled_from([b'{"x": NaN}', b'{"orderNumber": Infinity}', b'{"Id": -Infinity}']))
    return draw(st.binary(max_size=400))


content_types = st.sampled_from(["application/json"] * 6 + [
    "application/json; charset=utf-16", "application/cloudevents+json", "text/plain", "", "APPLICATION/JSON",
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
])


@st.composite
def webhook_requests(draw: st.DrawFn, vendor: str, keys: list[str]) -> tuple[str, str, bytes]:
    token = draw(st.sampled_from([TOKEN] * 8 + ["", "short", TOKEN + "x", TOKEN.upper()]))
    body = draw(encoded(keys) | attacks())
    return f"/hooks/{vendor}/{token}", draw(content_types), body


# -- the property ---------------------------------------------------------------------------------

async def check(receiver: Receiver, send: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]) -> None:
    before = await receiver.published()
    response = await send(receiver.http)
    after = await receiver.published()
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 300:
        assert response.headers.get("content-type", "").startswith(("application/json", "text/plain")), \
            response.headers
        assert after == before, "a refused request published something"
    elif response.request.method == "POST":
        assert after == before + 2  # the inbound record and its scan.notified, nothing else


def fuzz(strategy: st.SearchStrategy[Any], examples: int) -> Callable[[Callable[..., Any]], Any]:
    """`examples` cases of `strategy` as the `case` argument; no deadline (2 shared cores are slow)."""
    budget = settings(max_examples=examples, deadline=None, database=None, print_blob=True,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                             HealthCheck.data_too_large])
    return lambda test: budget(given(case=strategy)(test))


async def _webhook(receiver: Receiver, case: tuple[str, str, bytes]) -> None:
    path, content_type, body = case
    headers = {"content-type": content_type} if content_type else {}
    await check(receiver, lambda http: http.post(path, content=body, headers=headers))


oauth_queries = st.one_of(
    st.dictionaries(st.sampled_from(["state", "code", "error", "scope"]) | st.text(max_size=6),
                    st.text(max_size=80), max_size=4).map(lambda q: httpx.QueryParams(q).__str__().encode()),
    st.binary(max_size=200).map(lambda b: b"state=" + b"".join(b"%%%02X" % c for c in b)),
    st.sampled_from([b"state=%ED%A0%80&code=x", b"state=%ff%fe", b"code=" + b"A" * 5000,
                     b"state=" + b"a" * 201]),
)


async def _oauth(receiver: Receiver, case: bytes) -> None:
    url = httpx.URL(f"{receiver.url}/oauth/meditlink/callback", query=case)
    await check(receiver, lambda http: http.get(url))


plain_requests = st.tuples(
    st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]),
    st.sampled_from(["/healthz", "/readyz", "/metrics", "/asyncapi.json", "/openapi.json", "/hooks",
                     "/hooks/", "/oauth/meditlink/callback", f"/hooks/itero/{TOKEN}/extra", "/%ff",
                     "/hooks/%ED%A0%80/x", "/.."]),
    st.binary(max_size=100),
)


async def _plain(receiver: Receiver, case: tuple[str, str, bytes]) -> None:
    method, path, body = case
    await check(receiver, lambda http: http.request(method, path, content=body or None))


SMALL, LARGE = 1, 20  # budget multipliers: `make test`, and the slow variants

itero, align = webhook_requests("itero", ITERO_KEYS), webhook_requests("align", ITERO_KEYS)
medit = webhook_requests("meditlink", MEDIT_KEYS)
test_itero_route_never_fails_with_5xx = fuzz(itero, 900 * SMALL)(_webhook)
test_align_route_never_fails_with_5xx = fuzz(align, 500 * SMALL)(_webhook)
test_medit_route_never_fails_with_5xx = fuzz(medit, 900 * SMALL)(_webhook)
test_oauth_callback_never_fails_with_5xx = fuzz(oauth_queries, 400 * SMALL)(_oauth)
test_health_metrics_and_unknown_paths_never_fail_with_5xx = fuzz(plain_requests, 300 * SMALL)(_plain)

test_itero_route_long = pytest.mark.slow(fuzz(itero, 900 * LARGE)(_webhook))
test_medit_route_long = pytest.mark.slow(fuzz(medit, 900 * LARGE)(_webhook))
test_oauth_callback_long = pytest.mark.slow(fuzz(oauth_queries, 400 * LARGE)(_oauth))
