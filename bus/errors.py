"""Bus errors. aiokafka's (and SQLite's) errors are translated into these in the backends.

    BusError
    ├── BusUnavailable   the broker did not acknowledge in time or cannot be reached: retryable
    │   └── BusRefused   the broker refused us (credentials, TLS trust): retrying will not help
    │                    until the configuration changes; at start it is fatal
    ├── NotAssigned      a consumer got no partition in time (other members of its group hold them all)
    ├── TopicsNotReady   with `bus.kafka.create_topics = false`: topics missing or not as expected
    └── EventTooLarge    the broker (or the client's own bound) refuses the event for its size:
                         permanent, sending it again can never succeed
"""


class BusError(Exception):
    """Something went wrong on the bus."""


class BusUnavailable(BusError):
    """The event was not acknowledged durably: the caller must not report success."""


class BusRefused(BusUnavailable):
    """The broker answered but refused the connection: SASL credentials, mechanism or TLS trust."""


class NotAssigned(BusError):
    """A group member waited its deadline for partitions and got none."""


class TopicsNotReady(BusError):
    """Topics scanbridge needs are missing or have other partition counts; the message lists them."""


class EventTooLarge(BusError):
    """The event is larger than the bus accepts (Kafka MESSAGE_TOO_LARGE / max.message.bytes)."""
