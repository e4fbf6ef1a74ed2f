"""Adding a subscription and rotating its secret (`scanbridge subscriptions`): the URL checked against the
SSRF guard now (it is checked again at every connect), a fresh Standard Webhooks secret."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from consumers.delivery.address import check_endpoint
from consumers.delivery.signing import new_secret
from state.base import SigningSecret, Subscription, Subscriptions

ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class InvalidSubscription(ValueError):
    pass


async def new_subscription(url: str, *, subscription_id: str | None = None, event_types: list[str],
                           vendors: list[str], accounts: list[str], allow_private: bool) -> Subscription:
    """A subscription to add, with a new secret; UnsafeEndpoint when the URL is refused."""
    sid = subscription_id or f"{urlsplit(url).hostname or 'endpoint'}-{secrets.token_hex(3)}"
    if not ID.fullmatch(sid):
        raise InvalidSubscription(f"subscription id {sid!r}: letters, digits, '.', '_', '-' (at most 64)")
    await check_endpoint(url, allow_private=allow_private)
    return Subscription(id=sid, url=url, secrets=(SigningSecret(new_secret()),),
                        event_types=tuple(event_types or ["*"]), vendors=tuple(vendors),
                        accounts=tuple(accounts), allow_private=allow_private)


async def rotate_secret(subscriptions: Subscriptions, subscription_id: str, grace_s: float) -> str | None:
    """A new secret signs from now on; the current one also signs for `grace_s` (receivers move over
    meanwhile). Older ones are dropped. Returns the new secret, None for an unknown subscription."""
    current = await subscriptions.get(subscription_id)
    if current is None:
        return None
    fresh = new_secret()
    until = datetime.now(UTC) + timedelta(seconds=grace_s)
    kept = (SigningSecret(current.secrets[0].secret, until),) if current.secrets and grace_s > 0 else ()
    await subscriptions.set_secrets(subscription_id, (SigningSecret(fresh), *kept))
    return fresh
