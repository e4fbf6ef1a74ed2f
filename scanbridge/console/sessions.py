"""Console sessions: a signed cookie (itsdangerous) holding the operator's name, a CSRF token and when it
was issued; HttpOnly, SameSite=Lax (a Medit Link authorization comes back by a cross-site redirect, which
would not carry a Strict cookie; every change is a POST with a CSRF token), Secure behind TLS. A session
older than `console.session_ttl_s` (by the console's clock) is refused, and the role is read again from
the settings on every request.

Every form carries the session's CSRF token (`csrf`); a POST without the right one is refused. The
sign-in form, before any session, carries the token of a short-lived signed `sb_signin` cookie instead
(double submit).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

SESSION_COOKIE = "sb_session"
SIGNIN_COOKIE = "sb_signin"
SIGNIN_TTL_S = 1800.0


@dataclass(frozen=True)
class Session:
    name: str
    csrf: str
    issued_at: float


class Sessions:
    def __init__(self, key: bytes, ttl_s: float, clock: Callable[[], float], *, secure: bool) -> None:
        self._sessions = URLSafeSerializer(key, salt="scanbridge-console-session")
        self._signin = URLSafeSerializer(key, salt="scanbridge-console-signin")
        self.ttl_s = ttl_s
        self.secure = secure
        self._clock = clock

    def issue(self, name: str) -> tuple[str, Session]:
        session = Session(name, secrets.token_urlsafe(24), self._clock())
        return self._sessions.dumps({"n": name, "c": session.csrf, "i": session.issued_at}), session

    def read(self, cookie: str | None) -> Session | None:
        """The session of a cookie, if signed by us and not expired."""
        if not cookie:
            return None
        try:
            data = self._sessions.loads(cookie)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("i"), int | float):
            return None
        if self._clock() - float(data["i"]) > self.ttl_s:
            return None
        return Session(str(data.get("n")), str(data.get("c")), float(data["i"]))

    def signin_token(self) -> tuple[str, str]:
        """(cookie value, form token) for the sign-in form."""
        token = secrets.token_urlsafe(24)
        return self._signin.dumps({"t": token, "i": self._clock()}), token

    def signin_ok(self, cookie: str | None, form_token: str | None) -> bool:
        if not cookie or not form_token:
            return False
        try:
            data = self._signin.loads(cookie)
        except BadSignature:
            return False
        if not isinstance(data, dict) or self._clock() - float(data.get("i", 0)) > SIGNIN_TTL_S:
            return False
        return hmac.compare_digest(str(data.get("t")), form_token)


def csrf_ok(expected: str, form_token: object) -> bool:
    return isinstance(form_token, str) and hmac.compare_digest(expected.encode(), form_token.encode())
