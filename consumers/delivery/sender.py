"""One delivery attempt: POST the signed event, read at most `max_response_bytes` of the answer within the
attempt's deadline, and translate the outcome (consumers/delivery/errors.py). 2xx is delivered."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from consumers.delivery import signing
from consumers.delivery.errors import EndpointGone, RetryLater, Undeliverable
from schemas.envelope import Envelope
from state.base import Subscription

REFUSED_FOR_GOOD = frozenset({400, 413, 415, 422})  # this event will never be accepted as it is


@dataclass(frozen=True)
class Limits:
    timeout_s: float
    max_response_bytes: int


async def send(client: httpx.AsyncClient, subscription: Subscription, event: Envelope, limits: Limits,
               now: datetime | None = None) -> int:
    """Deliver once; returns the 2xx status, raises a DeliveryError otherwise."""
    when = now or datetime.now(UTC)
    body = signing.payload(event)
    head = signing.headers(event.id, signing.current(subscription.secrets, when), body, when)
    try:
        async with asyncio.timeout(limits.timeout_s):  # the whole attempt, however slowly it answers
            async with client.stream("POST", subscription.url, content=body, headers=head) as response:
                await _drain(response, limits.max_response_bytes)
    except TimeoutError as exc:
        raise RetryLater(f"no answer within {limits.timeout_s:g} s") from exc
    except httpx.TransportError as exc:
        raise RetryLater(f"endpoint unreachable: {type(exc).__name__}") from exc
    status = response.status_code
    if 200 <= status < 300:
        return status
    if status == 410:
        raise EndpointGone("410 Gone: the endpoint asked to stop")
    if status in REFUSED_FOR_GOOD:
        raise Undeliverable(f"refused: {status}")
    if 300 <= status < 400:
        raise RetryLater(f"{status} redirect (not followed; fix the subscription's URL)")
    raise RetryLater(f"answered {status}", retry_after(response.headers.get("retry-after"), when))


def retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After in seconds, from delay-seconds or an HTTP-date (RFC 9110 §10.2.3); None if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


async def _drain(response: httpx.Response, cap: int) -> None:
    """Read up to `cap` bytes of the answer and drop them (nothing in it is needed)."""
    seen = 0
    async for chunk in response.aiter_raw():
        seen += len(chunk)
        if seen >= cap:
            break
