"""State store errors. SQLite's, psycopg's and the key's errors are translated into these in the backends.

    StateError
    ├── StateUnavailable   the store cannot be reached or did not answer in time: retryable
    ├── CorruptState       a row cannot be read (not JSON, not decryptable): names its connection
    ├── StaleLease         a write or renewal carried a lease that another holder has since taken
    ├── VersionConflict    a compare-and-set lost: the row changed since it was read
    ├── CredentialsMissing a refresh was asked for a connection that holds no credentials
    └── KeyMissing         no credentials key is configured where one is required
"""


class StateError(Exception):
    """Something went wrong in the state store."""


class StateUnavailable(StateError):
    """The store did not answer: nothing was written, the caller may try again later."""


class CorruptState(StateError):
    """A stored row cannot be read; never treated as empty. The message names the connection."""


class StaleLease(StateError):
    """The lease is no longer the caller's: a newer fencing token exists, so the write was refused."""


class VersionConflict(StateError):
    """The row's version is not the one the caller expected: re-read and decide again."""


class CredentialsMissing(StateError, LookupError):
    """No credentials are stored for the connection: it must be paired or authorized first."""


class KeyMissing(StateError):
    """Credentials cannot be sealed or opened: no key is configured."""
