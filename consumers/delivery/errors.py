"""Why a delivery attempt did not succeed, and what follows (one tree, translated in `sender.py`):

    DeliveryError
    ├── Undeliverable     this event, for good (400, 413, 415, 422): dead-lettered for the subscription,
    │                     the next one goes on
    ├── EndpointGone      410 Gone: the endpoint asks to stop; the subscription is disabled at once
    └── RetryLater        anything else (network, timeout, 3xx, 401/403/404, 408/409/425/429, 5xx):
        │                 retried with backoff, `retry_after` from the endpoint's Retry-After; failing
        │                 longer than `delivery.disable_after_s` disables the subscription
        └── UnsafeEndpoint   the URL is refused, or resolves to a refused address (SSRF guard): nothing
                             is sent; like an unreachable endpoint (its DNS may be fixed)

The endpoint's answer body is never part of a message (it may echo the event); status and reason only.
"""

from __future__ import annotations


class DeliveryError(Exception):
    pass


class Undeliverable(DeliveryError):
    pass


class EndpointGone(DeliveryError):
    pass


class RetryLater(DeliveryError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnsafeEndpoint(RetryLater):
    pass
