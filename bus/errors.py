"""Bus errors. aiokafka's (and SQLite's) errors are translated into these in the backends.

    BusError
    ├── BusUnavailable   the broker did not acknowledge in time or cannot be reached: retryable
    └── NotAssigned      a consumer got no partition in time (other members of its group hold them all)
"""


class BusError(Exception):
    """Something went wrong on the bus."""


class BusUnavailable(BusError):
    """The event was not acknowledged durably: the caller must not report success."""


class NotAssigned(BusError):
    """A group member waited its deadline for partitions and got none."""
