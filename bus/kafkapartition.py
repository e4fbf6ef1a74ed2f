"""Which partition a keyed Kafka record goes to: aiokafka's default (murmur2 of the key, as the Java client
picks), remembered for recent keys.

A webhook publishes two records under one key (its inbound record and `scan.notified`), and the pure-Python
murmur2 costs ~8 µs a key (issue 16), so the second one is looked up. The choice is the default
partitioner's, so every producer of ours — and a Java one — still sends a key to the same partition.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka.partitioner import DefaultPartitioner

REMEMBERED = 4096  # keys; the memory is emptied when full (a webhook's two records are published together)


class KeyPartitioner:
    def __init__(self) -> None:
        self._default = DefaultPartitioner()
        self._known: dict[tuple[bytes, tuple[int, ...]], int] = {}

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:  # no key: the default's random choice among the available ones
            return int(self._default(key, list(all_partitions), list(available)))
        known = (key, tuple(all_partitions))
        partition = self._known.get(known)
        if partition is None:
            if len(self._known) >= REMEMBERED:
                self._known.clear()
            partition = self._known[known] = int(self._default(key, list(all_partitions), list(available)))
        return partition
