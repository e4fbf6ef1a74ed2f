"""Bearer tokens of one connection, persisted (0600) and refreshed under one lock per connection.

The refresh-token exchange is an OAuth2 `refresh_token` grant made with authlib; a refresh token
the vendor refuses (`invalid_grant`) means the connection must be paired / authorized again. The
exchange has a deadline and its answer a byte cap, like every vendor call (`consumers.limits`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

from authlib.integrations.base_client.errors import OAuthError

with warnings.catch_warnings():
    # authlib ≥ 1.7 nudges towards httpx2; we stay on httpx 0.28 (DESIGN.md §8, decided once here).
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from consumers.errors import ServerError, Unauthorized, VendorError
from consumers.http import translate_transport_errors
from consumers.limits import CappedTransport, within
from consumers.metrics import TOKEN_REFRESHES
from schemas.credentials import write_private
from schemas.settings import VendorLimits

log = logging.getLogger(__name__)


@dataclass
class Tokens:
    access_token: str
    refresh_token: str


class TokenStore:
    def __init__(
        self,
        path: Path,
        initial: Tokens,
        *,
        token_url: str,
        client_id: str | None = None,
        client_secret: str | None = None,
        limits: VendorLimits | None = None,
    ) -> None:
        self._path = path
        self._deadline_s = (limits or VendorLimits()).call_deadline_s
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._lock = asyncio.Lock()
        self._tokens = self._load() or initial

    def _load(self) -> Tokens | None:
        try:
            raw = json.loads(self._path.read_text())
            return Tokens(raw["access_token"], raw["refresh_token"])
        except (FileNotFoundError, KeyError, ValueError):
            return None

    def _save(self) -> None:
        write_private(self._path, {"access_token": self._tokens.access_token,
                                   "refresh_token": self._tokens.refresh_token})

    @property
    def access_token(self) -> str:
        return self._tokens.access_token

    async def refresh(self, stale_access_token: str) -> str:
        """Refresh once for all callers that saw `stale_access_token` rejected."""
        async with self._lock:
            if self._tokens.access_token != stale_access_token:
                return self._tokens.access_token  # someone else already refreshed
            client = AsyncOAuth2Client(
                client_id=self._client_id, client_secret=self._client_secret, timeout=30.0,
                transport=CappedTransport(),
            )
            try:
                async with within(self._deadline_s, "token refresh"):
                    with translate_transport_errors():
                        token = await client.refresh_token(
                            self._token_url, refresh_token=self._tokens.refresh_token
                        )
            except OAuthError as exc:
                TOKEN_REFRESHES.labels("itero", "refused" if exc.error == "invalid_grant" else "error").inc()
                if exc.error == "invalid_grant":
                    raise Unauthorized(
                        "refresh token refused (invalid_grant): re-authorization needed"
                    ) from exc
                raise ServerError(f"token refresh failed: {exc.error}") from exc
            except ValueError as exc:  # a non-JSON or malformed answer
                TOKEN_REFRESHES.labels("itero", "error").inc()
                raise ServerError("token refresh answer unreadable") from exc
            except VendorError:  # the token endpoint unreachable or too slow
                TOKEN_REFRESHES.labels("itero", "error").inc()
                raise
            finally:
                await client.aclose()
            self._tokens = Tokens(
                token["access_token"], token.get("refresh_token") or self._tokens.refresh_token
            )
            self._save()
            TOKEN_REFRESHES.labels("itero", "ok").inc()
            log.info("access token refreshed")
            return self._tokens.access_token
