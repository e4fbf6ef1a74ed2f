"""The producer's partitioner remembers keys but chooses as aiokafka's default (murmur2, as the Java
client), so records of one key land where any other producer of ours puts them."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner

from bus.kafkapartition import REMEMBERED, KeyPartitioner


def test_every_key_goes_where_the_default_partitioner_sends_it_the_first_time_and_after() -> None:
    ours, default = KeyPartitioner(), DefaultPartitioner()
    rng = random.Random(16)
    keys = [f"itero:{rng.randrange(10**6)}:{rng.getrandbits(128):032x}".encode() for _ in range(300)]
    for partitions in ([0], [0, 1, 2, 3, 4, 5], list(range(7))):
        for key in keys * 2 + keys[:REMEMBERED]:
            assert ours(key, partitions, partitions) == default(key, partitions, partitions)


def test_a_key_seen_before_is_not_hashed_again() -> None:
    ours = KeyPartitioner()
    first = ours(b"itero:4242:rx", [0, 1, 2], [0, 1, 2])
    ours._default = None  # type: ignore[assignment]  # hashing again would fail
    assert ours(b"itero:4242:rx", [0, 1, 2], [0, 1, 2]) == first
