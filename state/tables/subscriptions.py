"""HTTP subscriptions (README "Delivering to HTTP endpoints"): their settings sealed like a connection's
(the URL may carry a token, the signing secrets are secrets), their failing/disabled state, the events
delivered to each (one delivery per event per subscription) and each one's dead letters."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from state.base import DeadDelivery, SigningSecret, Subscription
from state.codec import dumps, loads, seal, unseal
from state.db import Database, Row, Tx, from_ms, to_ms
from state.errors import CorruptState
from state.seal import Sealer

MAX_ERROR_CHARS = 500
_COLUMNS = "id, sealed, status, created_ms, failing_since_ms, last_error, disabled_ms, revision"


async def _bump_revision(tx: Tx) -> int:
    rows = await tx.fetch(
        "UPDATE meta SET value = value + 1 WHERE name = 'subscriptions_revision' RETURNING value"
    )
    return int(rows[0][0])


def _settings(subscription: Subscription) -> dict[str, Any]:
    return {
        "url": subscription.url,
        "secrets": [{"secret": s.secret, "until": to_ms(s.until)} for s in subscription.secrets],
        "event_types": list(subscription.event_types), "vendors": list(subscription.vendors),
        "accounts": list(subscription.accounts), "allow_private": subscription.allow_private,
    }


class SqlSubscriptions:
    def __init__(self, db: Database, sealer: Sealer) -> None:
        self._db = db
        self._sealer = sealer

    def _subscription(self, row: Row) -> Subscription:
        sub_id, sealed, status, created, failing, error, disabled, revision = row
        owner = f"subscription {sub_id}"
        settings = unseal(self._sealer, sealed, "settings", owner)
        if not isinstance(settings, dict):
            raise CorruptState(f"settings of {owner} are not an object")
        return Subscription(
            id=sub_id, url=settings["url"],
            secrets=tuple(SigningSecret(s["secret"], from_ms(s.get("until"))) for s in settings["secrets"]),
            event_types=tuple(settings["event_types"]), vendors=tuple(settings["vendors"]),
            accounts=tuple(settings["accounts"]), allow_private=bool(settings["allow_private"]),
            status="disabled" if status == "disabled" else "active", created_at=from_ms(created),
            failing_since=from_ms(failing), last_error=error, disabled_at=from_ms(disabled),
            revision=int(revision),
        )

    async def add(self, subscription: Subscription) -> bool:
        sealed = seal(self._sealer, _settings(subscription))
        async with self._db.transaction() as tx:
            if await tx.fetch("SELECT 1 FROM subscriptions WHERE id = ?", subscription.id):
                return False
            revision = await _bump_revision(tx)
            await tx.execute(
                f"INSERT INTO subscriptions ({_COLUMNS}) VALUES (?, ?, 'active', ?, NULL, NULL, NULL, ?)",
                subscription.id, sealed, await tx.now_ms(), revision)
        return True

    async def get(self, subscription_id: str) -> Subscription | None:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch(f"SELECT {_COLUMNS} FROM subscriptions WHERE id = ?", subscription_id)
        return self._subscription(rows[0]) if rows else None

    async def list(self) -> list[Subscription]:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch(f"SELECT {_COLUMNS} FROM subscriptions ORDER BY id")
        return [self._subscription(row) for row in rows]

    async def remove(self, subscription_id: str) -> bool:
        async with self._db.transaction() as tx:
            removed = await tx.execute("DELETE FROM subscriptions WHERE id = ?", subscription_id)
            for table in ("deliveries", "delivery_dead_letters"):
                await tx.execute(f"DELETE FROM {table} WHERE subscription = ?", subscription_id)
            if removed:
                await _bump_revision(tx)
        return removed > 0

    async def set_secrets(self, subscription_id: str, secrets: tuple[SigningSecret, ...]) -> bool:
        async with self._db.transaction() as tx:
            rows = await tx.fetch(
                f"SELECT {_COLUMNS} FROM subscriptions WHERE id = ?{self._db.for_update}", subscription_id)
            if not rows:
                return False
            current = self._subscription(rows[0])
            changed = Subscription(**{**current.__dict__, "secrets": secrets})
            await tx.execute("UPDATE subscriptions SET sealed = ?, revision = ? WHERE id = ?",
                             seal(self._sealer, _settings(changed)), await _bump_revision(tx),
                             subscription_id)
        return True

    async def revision(self) -> int:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch("SELECT value FROM meta WHERE name = 'subscriptions_revision'")
        return int(rows[0][0])

    async def record_failure(self, subscription_id: str, error: str, at: datetime) -> datetime:
        async with self._db.transaction() as tx:
            rows = await tx.fetch(
                "UPDATE subscriptions SET failing_since_ms = COALESCE(failing_since_ms, ?), last_error = ? "
                "WHERE id = ? RETURNING failing_since_ms",
                to_ms(at), error[:MAX_ERROR_CHARS], subscription_id)
        since = from_ms(rows[0][0]) if rows else None
        return since or at

    async def record_success(self, subscription_id: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("UPDATE subscriptions SET failing_since_ms = NULL "
                             "WHERE id = ? AND failing_since_ms IS NOT NULL", subscription_id)

    async def disable(self, subscription_id: str, at: datetime) -> bool:
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE subscriptions SET status = 'disabled', disabled_ms = ? "
                "WHERE id = ? AND status = 'active'", to_ms(at), subscription_id)
            if changed:
                await tx.execute("UPDATE subscriptions SET revision = ? WHERE id = ?",
                                 await _bump_revision(tx), subscription_id)
        return changed > 0

    async def enable(self, subscription_id: str) -> bool:
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE subscriptions SET status = 'active', disabled_ms = NULL, failing_since_ms = NULL "
                "WHERE id = ? AND status = 'disabled'", subscription_id)
            if changed:
                await tx.execute("UPDATE subscriptions SET revision = ? WHERE id = ?",
                                 await _bump_revision(tx), subscription_id)
        return changed > 0

    async def delivered(self, subscription_id: str, event_id: str) -> bool:
        async with self._db.transaction(write=False) as tx:
            return bool(await tx.fetch("SELECT 1 FROM deliveries WHERE subscription = ? AND event_id = ?",
                                       subscription_id, event_id))

    async def mark_delivered(self, subscription_id: str, event_id: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO deliveries (subscription, event_id, delivered_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (subscription, event_id) DO NOTHING",
                subscription_id, event_id, await tx.now_ms())

    async def prune_delivered(self, before: datetime) -> int:
        async with self._db.transaction() as tx:
            return await tx.execute("DELETE FROM deliveries WHERE delivered_ms < ?", to_ms(before))

    async def add_dead_letter(self, letter: DeadDelivery) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO delivery_dead_letters (subscription, event_id, topic, event, reason, attempts, "
                "created_ms) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subscription, event_id) DO UPDATE SET "
                "reason = excluded.reason, attempts = excluded.attempts, created_ms = excluded.created_ms",
                letter.subscription, letter.event_id, letter.topic, dumps(dict(letter.event)),
                letter.reason[:MAX_ERROR_CHARS], letter.attempts, await tx.now_ms())

    async def dead_letters(self, subscription_id: str) -> builtins.list[DeadDelivery]:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch(
                "SELECT event_id, topic, event, reason, attempts, created_ms FROM delivery_dead_letters "
                "WHERE subscription = ? ORDER BY created_ms, event_id", subscription_id)
        return [DeadDelivery(subscription_id, event_id, topic, loads(event, "dead letter",
                                                                      f"subscription {subscription_id}"),
                             reason, int(attempts), from_ms(created))
                for event_id, topic, event, reason, attempts, created in rows]

    async def remove_dead_letter(self, subscription_id: str, event_id: str) -> bool:
        async with self._db.transaction() as tx:
            return await tx.execute(
                "DELETE FROM delivery_dead_letters WHERE subscription = ? AND event_id = ?",
                subscription_id, event_id) > 0
