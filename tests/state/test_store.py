"""Behaviour every state store backend must show (DESIGN.md §7): the suite runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from state.base import (
    Connection,
    ConnectionKey,
    Credentials,
    Health,
    Marker,
    MarkerKey,
    PendingAuthorization,
)
from state.db import migrations
from state.errors import CorruptState, CredentialsMissing, StaleLease, StateUnavailable, VersionConflict
from state.store import SqlStateStore
from tests.state.conftest import StoreFactory

C1 = ConnectionKey("itero", "clinic-1")
C2 = ConnectionKey("meditlink", "lab-2")
SECRET = "client-secret-that-must-not-be-readable"


async def _raw(store: SqlStateStore, sql: str, *params: object) -> list[tuple[object, ...]]:
    async with store.db.transaction() as tx:
        if sql.lstrip().upper().startswith("SELECT"):
            return await tx.fetch(sql, *params)
        await tx.execute(sql, *params)
        return []


# -- schema ------------------------------------------------------------------------------------------


async def test_stores_starting_at_once_apply_each_migration_once(open_store: StoreFactory) -> None:
    stores = [open_store() for _ in range(4)]
    await asyncio.gather(*(s.start() for s in stores))
    applied = await _raw(stores[0], "SELECT version, name FROM schema_migrations ORDER BY version")
    assert applied == [(m.version, m.name) for m in migrations("sqlite")]
    assert applied[:3] == [(1, "initial"), (2, "subscriptions"), (3, "oauth_recent")]
    assert await stores[0].ready()


async def test_a_closed_store_is_not_ready_and_says_so(open_store: StoreFactory) -> None:
    store = open_store()
    await store.start()
    await store.close()
    assert not await store.ready()
    with pytest.raises(StateUnavailable):
        await store.connections.get(C1)


# -- connections and health ------------------------------------------------------------------------


async def test_connections_are_added_changed_listed_and_removed(state_store: SqlStateStore) -> None:
    start = await state_store.connections.revision()
    assert await state_store.connections.put(Connection(C1, {"base_url": "https://a"}, "toml"))
    assert await state_store.connections.put(Connection(C2, {"api_url": "https://m"}))
    seeded_again = Connection(C1, {"base_url": "https://b"}, "toml")
    assert not await state_store.connections.put(seeded_again, only_if_absent=True)
    assert await state_store.connections.put(Connection(C1, {"base_url": "https://c"}, "runtime"))

    got = await state_store.connections.get(C1)
    assert got is not None and got.settings == {"base_url": "https://c"} and got.source == "runtime"
    assert [c.key for c in await state_store.connections.list()] == [C1, C2]
    assert [c.key for c in await state_store.connections.list("meditlink")] == [C2]
    assert await state_store.connections.revision() == start + 3 == got.revision

    await state_store.credentials.put(C1, Credentials("a"))
    await state_store.connections.record_failure(C1, "failing", "timeout")
    assert await state_store.connections.remove(C1)
    assert not await state_store.connections.remove(C1)
    assert await state_store.connections.get(C1) is None
    assert await state_store.credentials.get(C1) is None  # no secrets left behind
    assert (await state_store.connections.health(C1)).status == "active"
    assert await state_store.connections.revision() == start + 4


async def test_connection_settings_are_sealed_at_rest(state_store: SqlStateStore) -> None:
    await state_store.connections.put(Connection(C1, {"client_secret": SECRET}))
    rows = await _raw(state_store, "SELECT sealed FROM connections")
    assert SECRET not in str(rows)
    got = await state_store.connections.get(C1)
    assert got is not None and got.settings["client_secret"] == SECRET


async def test_health_records_when_a_connection_started_failing_and_reports_changes_once(
    state_store: SqlStateStore,
) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert (await state_store.connections.health(C1)).status == "active"
    assert await state_store.connections.record_failure(C1, "failing", "HTTP 503", at=t0)
    assert not await state_store.connections.record_failure(C1, "failing", "HTTP 502", at=t0 + timedelta(1))
    assert await state_store.connections.record_failure(C1, "unpaired", "invalid_grant", at=t0 + timedelta(2))
    health = await state_store.connections.health(C1)
    assert (health.status, health.failing_since, health.last_error) == ("unpaired", t0, "invalid_grant")
    assert health.last_error_at == t0 + timedelta(2)

    assert await state_store.connections.record_success(C1, at=t0 + timedelta(3))
    assert not await state_store.connections.record_success(C1, at=t0 + timedelta(4))
    health = await state_store.connections.health(C1)
    assert (health.status, health.failing_since) == ("active", None)
    assert health.last_success_at == t0 + timedelta(4)
    assert health.last_error == "invalid_grant"  # the last error stays for operators to read


async def test_a_failing_call_does_not_hide_an_unpaired_connection_and_a_reset_forgets_it(
    state_store: SqlStateStore,
) -> None:
    assert await state_store.connections.record_failure(C1, "unpaired", "invalid_grant")
    assert not await state_store.connections.record_failure(C1, "failing", "HTTP 503")
    health = await state_store.connections.health(C1)
    assert (health.status, health.last_error) == ("unpaired", "HTTP 503")
    assert await state_store.connections.clear_health(C1)
    assert (await state_store.connections.health(C1)) == Health()
    assert not await state_store.connections.clear_health(C1)


# -- credentials -------------------------------------------------------------------------------------


async def test_credentials_round_trip_sealed_with_versions(state_store: SqlStateStore) -> None:
    expires = datetime(2026, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)
    first = await state_store.credentials.put(
        C1, Credentials("access-1", "refresh-1", expires, {"group_uuid": "g"}), if_version=0
    )
    assert first.version == 1
    got = await state_store.credentials.get(C1)
    assert got == Credentials("access-1", "refresh-1", expires, {"group_uuid": "g"}, 1)
    rows = await _raw(state_store, "SELECT sealed FROM credentials")
    assert "refresh-1" not in str(rows) and "access-1" not in str(rows)

    with pytest.raises(VersionConflict):
        await state_store.credentials.put(C1, Credentials("x"), if_version=0)
    with pytest.raises(VersionConflict):
        await state_store.credentials.put(C1, Credentials("x"), if_version=7)
    second = await state_store.credentials.put(C1, Credentials("access-2", "refresh-2"), if_version=1)
    assert second.version == 2
    assert await state_store.credentials.delete(C1)
    assert await state_store.credentials.get(C1) is None


async def test_credentials_sealed_with_a_dropped_key_are_reported_with_their_connection(
    open_store: StoreFactory, state_key: str,
) -> None:
    from cryptography.fernet import Fernet

    writer = open_store([state_key])
    await writer.start()
    await writer.credentials.put(C1, Credentials("a", "r"))
    reader = open_store([Fernet.generate_key().decode()])
    await reader.start()
    with pytest.raises(CorruptState, match="itero/clinic-1"):
        await reader.credentials.get(C1)


async def test_key_rotation_reseals_every_secret_row_with_the_new_key(
    open_store: StoreFactory, state_key: str,
) -> None:
    from cryptography.fernet import Fernet

    new_key = Fernet.generate_key().decode()
    old = open_store([state_key])
    await old.start()
    await old.credentials.put(C1, Credentials("a", "r"))
    await old.connections.put(Connection(C1, {"client_secret": SECRET}))
    await old.oauth.put("state-1", PendingAuthorization(C2, "https://r"), ttl_s=600)

    both = open_store([new_key, state_key])
    await both.start()
    assert await both.reseal() == 3
    assert await both.reseal() == 0  # already current

    new = open_store([new_key])
    await new.start()
    assert (await new.credentials.get(C1)) == Credentials("a", "r", version=1)
    connection = await new.connections.get(C1)
    assert connection is not None and connection.settings["client_secret"] == SECRET
    assert await new.oauth.take("state-1") == PendingAuthorization(C2, "https://r")


async def test_a_refresh_under_the_lock_runs_once_for_many_waiting_tasks(state_store: SqlStateStore) -> None:
    await state_store.credentials.put(C1, Credentials("stale", "refresh-1"))
    calls: list[str | None] = []

    async def refresh(current: Credentials) -> Credentials:
        calls.append(current.refresh_token)
        await asyncio.sleep(0.05)  # widen the window in which the other tasks arrive
        return Credentials("fresh", "refresh-2")

    results = await asyncio.gather(*(
        state_store.credentials.refresh(C1, lambda c: c.access_token == "stale", refresh) for _ in range(20)
    ))
    assert calls == ["refresh-1"]
    assert {r.access_token for r in results} == {"fresh"}
    assert await state_store.credentials.get(C1) == Credentials("fresh", "refresh-2", version=2)


async def test_a_refresh_that_fails_writes_nothing_and_the_next_caller_tries_again(
    state_store: SqlStateStore,
) -> None:
    await state_store.credentials.put(C1, Credentials("stale", "refresh-1"))

    async def failing(current: Credentials) -> Credentials:
        raise RuntimeError("token endpoint down")

    async def working(current: Credentials) -> Credentials:
        return Credentials("fresh", "refresh-2")

    with pytest.raises(RuntimeError):
        await state_store.credentials.refresh(C1, lambda c: c.access_token == "stale", failing)
    assert await state_store.credentials.get(C1) == Credentials("stale", "refresh-1", version=1)
    got = await state_store.credentials.refresh(C1, lambda c: c.access_token == "stale", working)
    assert got.access_token == "fresh"


async def test_a_refresh_is_not_called_while_the_token_is_still_good(state_store: SqlStateStore) -> None:
    await state_store.credentials.put(C1, Credentials("good", "r"))

    async def refresh(current: Credentials) -> Credentials:
        raise AssertionError("must not be called")

    got = await state_store.credentials.refresh(C1, lambda c: False, refresh)
    assert got.access_token == "good"
    with pytest.raises(CredentialsMissing, match="meditlink/lab-2"):
        await state_store.credentials.refresh(C2, lambda c: True, refresh)


async def test_a_refresh_does_not_bury_a_grant_written_meanwhile(state_store: SqlStateStore) -> None:
    await state_store.credentials.put(C1, Credentials("stale", "refresh-1"))

    async def refresh(current: Credentials) -> Credentials:
        await state_store.credentials.put(C1, Credentials("reconnected", "refresh-new"))  # `connect` ran
        return Credentials("fresh", "refresh-2")

    with pytest.raises(VersionConflict):
        await state_store.credentials.refresh(C1, lambda c: c.access_token == "stale", refresh)
    got = await state_store.credentials.get(C1)
    assert got is not None and got.access_token == "reconnected"


# -- leases and fencing ------------------------------------------------------------------------------


async def test_a_lease_has_one_holder_and_a_new_token_each_time_it_changes_hands(
    state_store: SqlStateStore,
) -> None:
    leases = state_store.leases
    a = await leases.acquire(C1, "host-a", ttl_s=30)
    assert a is not None and await leases.acquire(C1, "host-b", ttl_s=30) is None
    again = await leases.acquire(C1, "host-a", ttl_s=30)
    assert again is not None and again.token == a.token  # its holder renews it
    renewed = await leases.renew(a, ttl_s=60)
    assert renewed.token == a.token and renewed.expires_at >= a.expires_at
    holder = await leases.holder(C1)
    assert holder is not None and (holder.owner, holder.token) == ("host-a", a.token)

    assert await leases.release(a)
    assert await leases.holder(C1) is None
    b = await leases.acquire(C1, "host-b", ttl_s=30)
    assert b is not None and b.token > a.token
    assert not await leases.release(a)
    with pytest.raises(StaleLease):
        await leases.renew(a, ttl_s=30)


async def test_writes_with_a_stale_fencing_token_are_refused(state_store: SqlStateStore) -> None:
    a = await state_store.leases.acquire(C1, "host-a", ttl_s=0)  # lapses at once
    assert a is not None
    await state_store.entries.put(C1, "cursor", {"n": 1}, fence=a)  # lapsed, nobody took it: still current
    b = await state_store.leases.acquire(C1, "host-b", ttl_s=30)
    assert b is not None and b.token == a.token + 1

    with pytest.raises(StaleLease, match="itero/clinic-1"):
        await state_store.entries.put(C1, "cursor", {"n": 2}, fence=a)
    with pytest.raises(StaleLease):
        await state_store.entries.delete(C1, "cursor", fence=a)
    with pytest.raises(StaleLease):
        await state_store.maps.put(C1, "seen", {"rx": "v2"}, fence=a)
    with pytest.raises(StaleLease):
        await state_store.maps.prune(C1, "seen", datetime.now(UTC), fence=a)
    with pytest.raises(StaleLease):
        await state_store.leases.renew(a, ttl_s=30)

    await state_store.entries.put(C1, "cursor", {"n": 3}, fence=b)
    got = await state_store.entries.get(C1, "cursor")
    assert got is not None and got.value == {"n": 3}
    with pytest.raises(ValueError):
        await state_store.entries.put(C2, "cursor", {}, fence=b)  # a lease fences its own connection only


async def test_a_lapsed_lease_nobody_took_renews_with_its_token(state_store: SqlStateStore) -> None:
    a = await state_store.leases.acquire(C1, "host-a", ttl_s=0)
    assert a is not None and await state_store.leases.holder(C1) is None
    renewed = await state_store.leases.renew(a, ttl_s=30)
    assert renewed.token == a.token
    assert await state_store.leases.acquire(C1, "host-b", ttl_s=30) is None


# -- cursors, maps, sets, markers, OAuth states --------------------------------------------------------


async def test_entries_compare_and_set_by_version(state_store: SqlStateStore) -> None:
    assert await state_store.entries.get(C1, "cursor") is None
    assert await state_store.entries.put(C1, "cursor", {"from": 1}, if_version=0) == 1
    with pytest.raises(VersionConflict):
        await state_store.entries.put(C1, "cursor", {"from": 2}, if_version=0)
    assert await state_store.entries.put(C1, "cursor", {"from": 2}, if_version=1) == 2
    with pytest.raises(VersionConflict):
        await state_store.entries.put(C1, "cursor", {"from": 3}, if_version=1)
    assert await state_store.entries.put(C1, "cursor", [1, "two"]) == 3
    got = await state_store.entries.get(C1, "cursor")
    assert got is not None and (got.value, got.version) == ([1, "two"], 3)
    assert await state_store.entries.get(C2, "cursor") is None
    assert await state_store.entries.delete(C1, "cursor")
    assert not await state_store.entries.delete(C1, "cursor")


async def test_a_corrupt_cursor_is_reported_with_its_connection_never_read_as_empty(
    state_store: SqlStateStore,
) -> None:
    await state_store.entries.put(C1, "orders", {"seen": {"rx": "1"}})
    await _raw(state_store, "UPDATE entries SET value = ? WHERE conn = ?", "{not json", C1.id)
    with pytest.raises(CorruptState, match="'orders' of connection itero/clinic-1"):
        await state_store.entries.get(C1, "orders")


async def test_maps_keep_last_seen_versions_and_forget_old_items(state_store: SqlStateStore) -> None:
    many = {f"rx-{n}": f"v{n}" for n in range(1200)}  # more than one `IN (…)` chunk
    await state_store.maps.put(C1, "seen", many)
    await state_store.maps.put(C1, "seen", {"rx-1": "v1b"})
    await state_store.maps.put(C2, "seen", {"rx-1": "other"})
    got = await state_store.maps.get(C1, "seen", ["rx-1", "rx-1199", "missing"])
    assert got == {"rx-1": "v1b", "rx-1199": "v1199"}
    assert len(await state_store.maps.items(C1, "seen")) == 1200
    assert await state_store.maps.items(C1, "order_rx") == {}

    assert await state_store.maps.prune(C1, "seen", datetime(2000, 1, 1, tzinfo=UTC)) == 0
    assert await state_store.maps.prune(C1, "seen", datetime.now(UTC) + timedelta(days=1)) == 1200
    assert await state_store.maps.items(C2, "seen") == {"rx-1": "other"}


async def test_sets_keep_first_added_order_and_report_what_changed(state_store: SqlStateStore) -> None:
    assert await state_store.sets.add(C1, "watch", ["p-3", "p-1", "p-3"]) == ["p-3", "p-1"]
    assert await state_store.sets.add(C1, "watch", ["p-1", "p-2"]) == ["p-2"]
    assert await state_store.sets.members(C1, "watch") == ["p-3", "p-1", "p-2"]
    assert await state_store.sets.remove(C1, "watch", ["p-1", "p-9"]) == ["p-1"]
    assert await state_store.sets.add(C1, "watch", ["p-1"]) == ["p-1"]
    assert await state_store.sets.members(C1, "watch") == ["p-3", "p-2", "p-1"]
    assert await state_store.sets.members(C2, "watch") == []


async def test_an_artifact_marker_is_recorded_once_and_the_first_one_stays(
    state_store: SqlStateStore,
) -> None:
    key = MarkerKey("itero", "4242", "rx-1", "v3", "scan_3d/1-IDE.zip")
    assert await state_store.markers.get(key) is None
    results = await asyncio.gather(*(
        state_store.markers.put_if_absent(Marker(key, {"event": f"e{n}"})) for n in range(5)
    ))
    assert sorted(results) == [False, False, False, False, True]
    got = await state_store.markers.get(key)
    assert got is not None and got.created_at is not None
    assert got.data == {"event": f"e{results.index(True)}"}
    other_version = MarkerKey("itero", "4242", "rx-1", "v4", "scan_3d/1-IDE.zip")
    assert await state_store.markers.put_if_absent(Marker(other_version, {"event": "e9"}))


async def test_a_marker_and_its_intent_are_read_together_and_only_of_their_own_version(
    state_store: SqlStateStore,
) -> None:
    markers = state_store.markers
    artifact = MarkerKey("itero", "4242", "rx-1", "v1", "scan_3d/IDE.zip")
    intent = MarkerKey("itero", "4242", "rx-1", "v1", ":intent:scan_3d/IDE.zip")
    assert await markers.get_files(artifact, ["scan_3d/IDE.zip", ":intent:scan_3d/IDE.zip"]) == {}
    await markers.put_if_absent(Marker(intent, {"event_id": "e1"}))
    await markers.put_if_absent(Marker(MarkerKey("itero", "4242", "rx-1", "v2", "scan_3d/IDE.zip"), {}))
    got = await markers.get_files(artifact, ["scan_3d/IDE.zip", ":intent:scan_3d/IDE.zip"])
    assert list(got) == [intent.file] and got[intent.file].data == {"event_id": "e1"}
    await markers.put_if_absent(Marker(artifact, {"sha256": "ab"}))
    got = await markers.get_files(artifact, ["scan_3d/IDE.zip", ":intent:scan_3d/IDE.zip"])
    assert sorted(got) == [intent.file, artifact.file] and got[artifact.file].key == artifact


async def test_markers_are_found_by_artifact_id_by_latest_version_and_pruned_by_age(
    state_store: SqlStateStore,
) -> None:
    markers = state_store.markers
    v1 = MarkerKey("itero", "4242", "rx-1", "v1", ":order")
    v2 = MarkerKey("itero", "4242", "rx-1", "v2", ":order")
    artifact = MarkerKey("itero", "4242", "rx-1", "v1", "scan_3d/IDE.zip")
    assert await markers.latest("itero", "4242", "rx-1", ":order") is None
    await markers.put_if_absent(Marker(v1, {"status": "scanned"}))
    await markers.put_if_absent(Marker(artifact, {"sha256": "ab"}, artifact_id="0b7f6c1e-0000-4000-8000-1"))
    await _raw(state_store, "UPDATE markers SET created_ms = created_ms - 86400000")  # a day old
    await markers.put_if_absent(Marker(v2, {"status": "delivered"}))
    latest = await markers.latest("itero", "4242", "rx-1", ":order")
    assert latest is not None and latest.key == v2 and latest.data == {"status": "delivered"}
    found = await markers.find("0b7f6c1e-0000-4000-8000-1")
    assert found is not None and found.key == artifact and found.data == {"sha256": "ab"}
    assert await markers.find("0b7f6c1e-0000-4000-8000-2") is None
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    count, size = await markers.aged(hour_ago)
    assert count == 2 and size == len('{"status":"scanned"}') + len('{"sha256":"ab"}')
    assert await markers.prune(hour_ago) == 2
    assert await markers.get(v1) is None and await markers.get(v2) is not None
    await _raw(state_store, "UPDATE markers SET data = ? WHERE version = ?", "{broken", "v2")
    with pytest.raises(CorruptState, match="itero/4242"):
        await markers.get(v2)


async def test_an_oauth_state_is_taken_once_and_expires(state_store: SqlStateStore) -> None:
    pending = PendingAuthorization(C2, "https://receiver/oauth/meditlink/callback", {"code_verifier": "v"})
    await state_store.oauth.put("s-1", pending, ttl_s=600)
    await state_store.oauth.put("s-2", pending, ttl_s=0)
    rows = await _raw(state_store, "SELECT state_hash, sealed FROM oauth_states")
    assert "s-1" not in {str(r[0]) for r in rows} and "code_verifier" not in str(rows)

    assert await state_store.oauth.take("s-1") == pending
    assert await state_store.oauth.take("s-1") is None
    assert await state_store.oauth.take("s-2") is None  # expired
    assert await state_store.oauth.take("unknown") is None
    assert await state_store.oauth.take("x" * 500) is None


async def test_recent_authorizations_of_a_connection_are_taken_together_and_older_ones_stay(
    state_store: SqlStateStore,
) -> None:
    await state_store.oauth.put("old", PendingAuthorization(C2, "https://r"), ttl_s=900)
    await _raw(state_store, "UPDATE oauth_states SET created_ms = created_ms - 600000")  # 10 minutes ago
    for state in ("a", "b"):
        await state_store.oauth.put(state, PendingAuthorization(C2, "https://r"), ttl_s=900)
    await state_store.oauth.put("other", PendingAuthorization(C1, "https://r"), ttl_s=900)
    assert await state_store.oauth.pending(C2) == 3
    taken = await state_store.oauth.take_recent(C2.vendor, [C2.id], within_s=300)
    assert taken == [PendingAuthorization(C2, "https://r")] * 2
    assert await state_store.oauth.take_recent(C2.vendor, [C2.id], within_s=300) == []
    assert await state_store.oauth.pending(C2) == 1 and await state_store.oauth.pending(C1) == 1
    assert await state_store.oauth.take("old") == PendingAuthorization(C2, "https://r")
