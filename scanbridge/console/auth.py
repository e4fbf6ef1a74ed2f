"""Who may sign in to the console, and how often they may try (issue 17 "Sign-in").

Two kinds of operator: `admin` with the secret of `console.admin_secret_file` (to start with), and the
accounts of `console.accounts`, each with an argon2id hash (argon2-cffi; `scanbridge console
hash-password`) and a role — `admin` changes things, `viewer` only reads. An unknown name costs the same
hash check as a known one, so the answer time does not tell names apart. Failed sign-ins are counted per
name and per client address; past `sign_in_attempts` within `sign_in_window_s` that name or address is
refused without checking the password until the window has passed.
"""

from __future__ import annotations

import asyncio
import hmac
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from schemas.settings import ConsoleSettings

Role = Literal["admin", "viewer"]
ADMIN = "admin"
_HASHER = PasswordHasher()
_DUMMY = _HASHER.hash("not a password of anyone")
MAX_KEYS = 10_000  # names and addresses with failures kept before the lapsed ones are dropped


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


@dataclass(frozen=True)
class Operator:
    name: str
    role: Role

    @property
    def admin(self) -> bool:
        return self.role == "admin"


def _verify(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


class Accounts:
    def __init__(self, settings: ConsoleSettings) -> None:
        self._secret = settings.admin_secret
        self._accounts = {a.name: a for a in settings.accounts}

    def role_of(self, name: str) -> Role | None:
        """The role `name` has now (None: no such operator any more)."""
        if name in self._accounts:
            return self._accounts[name].role
        return "admin" if name == ADMIN and self._secret is not None else None

    async def check(self, name: str, password: str) -> Operator | None:
        account = self._accounts.get(name)
        if account is not None:
            ok = await asyncio.to_thread(_verify, account.password_hash, password)
            return Operator(name, account.role) if ok else None
        if name == ADMIN and self._secret is not None:
            expected = self._secret.get_secret_value().encode()
            return Operator(ADMIN, "admin") if hmac.compare_digest(password.encode(), expected) else None
        await asyncio.to_thread(_verify, _DUMMY, password)  # same cost as a known name
        return None


class SignInLimiter:
    """Failed sign-ins per key (a name, an address) within a sliding window; `clock` in seconds."""

    def __init__(self, attempts: int, window_s: float, clock: Callable[[], float]) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        found = self._failures[key]
        while found and found[0] <= self._clock() - self.window_s:
            found.popleft()
        return found

    def blocked_for(self, *keys: str) -> float:
        """Seconds until every key may try again (0: may try now)."""
        wait = 0.0
        for key in keys:
            recent = self._recent(key)
            if len(recent) >= self.attempts:
                wait = max(wait, recent[0] + self.window_s - self._clock())
        return wait

    def failed(self, *keys: str) -> None:
        if len(self._failures) > MAX_KEYS:  # many names tried: forget those whose failures lapsed
            for key in [k for k in self._failures if not self._recent(k)]:
                del self._failures[key]
        for key in keys:
            self._recent(key).append(self._clock())

    def succeeded(self, name_key: str) -> None:
        self._failures.pop(name_key, None)
