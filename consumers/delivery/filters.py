"""Which events a subscription wants: by type (`*`, exact, or a `prefix.*`), vendor and account (from the
event's `source`, `scanbridge/<vendor>/<account>`)."""

from __future__ import annotations

from bus.replay import parse_source
from schemas.envelope import Envelope
from state.base import Subscription


def wants_type(patterns: tuple[str, ...], event_type: str) -> bool:
    for pattern in patterns:
        if pattern in ("*", event_type):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def matches(subscription: Subscription, event: Envelope) -> bool:
    if not wants_type(subscription.event_types, event.type):
        return False
    vendor, account = parse_source(event.source)
    if subscription.vendors and vendor not in subscription.vendors:
        return False
    return not subscription.accounts or account in subscription.accounts
