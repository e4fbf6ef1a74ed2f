"""Credentials go only to the exact origin they belong to, never over a downgrade (DESIGN.md §5.6).

One `httpx.Auth`, `OriginScope`, decides for every vendor request — API call, download, each hop
of a redirect — since httpx runs it on each request it sends:

- the secret headers (a bearer token, HTTP Basic) are attached only when the request's origin —
  scheme, host and port, default ports made explicit — equals one of the configured origins
  exactly; to any other origin (another port on the same host, http instead of https, a pre-signed
  storage URL) they are removed even if a caller set them;
- a request over plain http is refused with `PlainHttpRefused` (nothing is sent) unless one of the
  configured origins is itself http (a test or lab set-up), so an https → http redirect or link
  never carries anything in clear text.

Headers that are not secret (Medit's `x-meditlink-client-id`) are sent by the caller as usual.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass

import httpx

from consumers.errors import PlainHttpRefused

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, order=True)
class Origin:
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def origin_of(url: str | httpx.URL) -> Origin:
    parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    port = parsed.port if parsed.port is not None else DEFAULT_PORTS.get(parsed.scheme, 0)
    return Origin(parsed.scheme, parsed.host, port)


class OriginScope(httpx.Auth):
    """Attach `secret_headers` to requests for `origins` only; refuse plain http unless configured."""

    def __init__(self, origins: Iterable[str | Origin],
                 secret_headers: Mapping[str, str] | None = None) -> None:
        self.origins = frozenset(o if isinstance(o, Origin) else origin_of(o) for o in origins)
        self.allow_http = any(o.scheme == "http" for o in self.origins)
        self._secret = dict(secret_headers or {})

    def with_secret(self, secret_headers: Mapping[str, str]) -> OriginScope:
        """The same origins with other secret headers (e.g. a refreshed token)."""
        return OriginScope(self.origins, secret_headers)

    def carries_secret(self, url: str | httpx.URL) -> bool:
        return origin_of(url) in self.origins

    def check(self, url: str | httpx.URL) -> None:
        """Raise `PlainHttpRefused` for a plain-http URL when every configured origin is https."""
        scheme = (url if isinstance(url, httpx.URL) else httpx.URL(url)).scheme
        if scheme != "https" and not (scheme == "http" and self.allow_http):
            raise PlainHttpRefused(f"refused: {scheme or '?'}:// link while the vendor is configured "
                                   "with https (no credential or request goes over plain http)")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.check(request.url)
        if self.carries_secret(request.url):
            request.headers.update(self._secret)
        else:
            for name in self._secret:
                request.headers.pop(name, None)
        yield request


def basic_credentials(username: str, password: str) -> dict[str, str]:
    """The `Authorization` header of HTTP Basic, as a secret header for `OriginScope`."""
    request = httpx.Request("GET", "https://placeholder.invalid/")
    next(httpx.BasicAuth(username, password).auth_flow(request))
    return {"Authorization": request.headers["Authorization"]}
