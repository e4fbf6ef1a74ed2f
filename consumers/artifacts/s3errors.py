"""Translate botocore's errors into `consumers.errors`, in this one place (S3 API Reference, "Error
responses": 503 SlowDown, 5xx InternalError / ServiceUnavailable, 412 PreconditionFailed).

    unreachable, timeout, 5xx (not 501), 408, 409 conflict  →  ServerError   (retryable)
    503 SlowDown, 429                                          →  Throttled     (retryable)
    412 PreconditionFailed (If-None-Match: * lost a race)      →  ObjectExists  (handled by the store)
    anything else: 403, 404 NoSuchBucket, 400, 501 …           →  StoreRefused  (permanent)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from consumers.errors import ServerError, StoreRefused, Throttled

THROTTLING = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
                        "TooManyRequests", "TooManyRequestsException"})


class ObjectExists(StoreRefused):
    """A conditional write found an object at the key (412)."""


def status_of(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def code_of(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "")


def is_missing(exc: ClientError) -> bool:
    return status_of(exc) == 404 or code_of(exc) in ("NoSuchKey", "NotFound", "404")


@contextmanager
def translated(what: str) -> Iterator[None]:
    """`what` names the operation (never the key or its values) in the message."""
    try:
        yield
    except ClientError as exc:
        status, code = status_of(exc), code_of(exc)
        if code in THROTTLING or status == 429:
            raise Throttled(f"S3 {what}: {status} {code}") from exc
        if status == 412 or code == "PreconditionFailed":
            raise ObjectExists(f"S3 {what}: an object is already at the key") from exc
        if (status >= 500 and status != 501) or status in (408, 409):
            raise ServerError(f"S3 {what}: {status} {code}") from exc
        raise StoreRefused(f"S3 {what}: {status} {code}") from exc
    except (ConnectionError, HTTPClientError) as exc:
        raise ServerError(f"S3 {what}: {type(exc).__name__}") from exc
    except BotoCoreError as exc:  # no credentials, a parameter the SDK refuses, …
        raise StoreRefused(f"S3 {what}: {type(exc).__name__}") from exc
