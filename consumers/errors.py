"""The one exception tree of vendor work; httpx errors are translated into it in `consumers.http`.

    VendorError
    ├── RetryableError            try again later (retry_after seconds when the vendor said)
    │   ├── NotReady              404 "files not generated yet" (iTero), file still processing
    │   ├── Throttled             429
    │   ├── ServerError           5xx, timeouts, connection failures
    │   │   └── TooSlow           a call over its deadline, a download under the minimum speed
    │   ├── LinkExpired           a pre-signed / returned download link stopped working (403)
    │   └── StorageFull           our artifact store is out of space or quota (ENOSPC, EDQUOT): not the
    │                             vendor's fault, retried with long backoff until space comes back
    └── PermanentError            retrying will not help: dead-letter it
        ├── NotFound              the vendor does not know this id
        ├── BadRequest            the vendor refused our request as malformed (400)
        ├── Unauthorized          401 that a token refresh could not cure: re-authorization needed
        │                         (connection-level: never turned into a per-artifact failure)
        ├── ArtifactRejected      too large, unsafe link, checksum mismatch, not what it claims
        │   └── AnswerTooLarge    a vendor answer (JSON, XML) over its byte cap: read no further
        ├── PlainHttpRefused      a link or redirect to plain http while the vendor is configured https
        ├── InvalidId             an id that cannot name a vendor resource safely (e.g. '..', not UTF-8)
        ├── ArtifactsFailed       some artifacts of an order were announced as `artifact.failed`:
        │                         the notification is dead-lettered so `scanbridge dlq retry` fetches them
        ├── StoreRefused          the artifact store refused a write: credentials, bucket, a feature
        │                         it lacks, another object already at the key
        └── CommandFailed         a command's end (consumers/commands): its reason, the vendor's status
            └── InvalidCommand    refused before the vendor was called; also dead-lettered

The artifact store's own failures use the same tree (translated in `consumers.artifacts.s3errors`):
unreachable or 5xx is a `ServerError`, 503 SlowDown a `Throttled`.
"""

from __future__ import annotations

from datetime import datetime


class VendorError(Exception):
    """Something went wrong talking to a vendor."""


class RetryableError(VendorError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotReady(RetryableError):
    pass


class Throttled(RetryableError):
    pass


class ServerError(RetryableError):
    pass


class TooSlow(ServerError):
    pass


class LinkExpired(RetryableError):
    pass


class StorageFull(RetryableError):
    pass


class PermanentError(VendorError):
    pass


class NotFound(PermanentError):
    pass


class BadRequest(PermanentError):
    pass


class Unauthorized(PermanentError):
    pass


class ArtifactRejected(PermanentError):
    pass


class AnswerTooLarge(ArtifactRejected):
    pass


class PlainHttpRefused(PermanentError):
    pass


class InvalidId(PermanentError):
    pass


class ArtifactsFailed(PermanentError):
    """Some artifacts of an order failed; `history` holds their attempts (when, what failed)."""

    def __init__(self, message: str, history: list[tuple[datetime, str]] | None = None) -> None:
        super().__init__(message)
        self.history = history or []


class StoreRefused(PermanentError):
    pass


class CommandFailed(PermanentError):
    """A command ends as `command.failed` (schemas.commands.base.Reason); `retryable`: sending it again
    (a new command_id) may help."""

    def __init__(self, reason: str, message: str, *, retryable: bool = False,
                 vendor_status: int | None = None, vendor_error: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retryable = retryable
        self.vendor_status = vendor_status
        self.vendor_error = vendor_error


class InvalidCommand(CommandFailed):
    """Refused before anything was sent to the vendor: schema, connection, authorization, limits."""
