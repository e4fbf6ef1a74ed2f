"""Kafka backend on aiokafka: idempotent producer (acks=all), explicit commits, seek by time.

Connection and security options come from `bus.kafkaconn` (one place for all three clients); topics
are created or checked by `bus.kafkatopics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    RecordListTooLargeError,
)
from aiokafka.structs import OffsetAndMetadata

from bus.ackwait import AckWaits
from bus.base import Delivery, Partition
from bus.codec import decode, encode
from bus.errors import BusRefused, BusUnavailable, EventTooLarge, NotAssigned
from bus.kafkaconn import client_options, explain_failure
from bus.kafkapartition import KeyPartitioner
from bus.kafkatopics import TopicReport, prepare
from bus.metrics import forget_lag, observe_publish, outcome_of, set_lag
from schemas.envelope import Envelope
from schemas.kafkaconfig import KafkaSettings

log = logging.getLogger(__name__)


class KafkaBus:
    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._acks = AckWaits(settings.ack_timeout_s)

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **client_options(self._settings),
            enable_idempotence=True,  # implies acks=all
            acks="all",
            compression_type=self._settings.compression,
            linger_ms=self._settings.linger_ms,
            request_timeout_ms=int(self._settings.ack_timeout_s * 1000),
            partitioner=KeyPartitioner(),
        )

    async def start(self) -> None:
        """Connect the producer; a broker that is down now is not fatal (publish will say so), one that
        refuses our credentials or certificate is (BusRefused)."""
        try:
            await self._producer_started()
        except BusRefused:
            raise
        except BusUnavailable as exc:
            log.warning("kafka not reachable at start; will retry on publish: %s", exc)

    async def _producer_started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = self._new_producer()
                try:
                    async with asyncio.timeout(self._settings.ack_timeout_s):
                        await producer.start()
                except (KafkaError, OSError, TimeoutError) as exc:
                    await producer.stop()
                    raise await explain_failure(self._settings, exc) from exc
                self._producer = producer
            return self._producer

    async def _reset_producer(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def close(self) -> None:
        await self._reset_producer()

    async def publish(self, topic: str, event: Envelope) -> None:
        await self.publish_many([(topic, event)])

    async def publish_many(self, records: Sequence[tuple[str, Envelope]]) -> None:
        """All records handed to the producer at once, then one wait (one timer) for all acknowledgements:
        a webhook's inbound record and `scan.notified` cost one wait, not two (issue 16)."""
        started = time.perf_counter()
        outcome = "ok"
        try:
            await self._publish_many(records)
        except BaseException as exc:
            outcome = outcome_of(exc)
            raise
        finally:
            observe_publish("kafka", outcome, time.perf_counter() - started, len(records))

    async def _publish_many(self, records: Sequence[tuple[str, Envelope]]) -> None:
        producer = self._producer or await self._producer_started()
        futures: list[asyncio.Future[object]] = []
        at = 0  # the record at hand, for the error message
        try:
            for topic, event in records:
                at = len(futures)
                key, value, headers = encode(event)
                futures.append(await producer.send(topic, value=value, key=key, headers=headers))
            await self._acks.wait(futures)  # TimeoutError after ack_timeout_s
            for at, future in enumerate(futures):  # noqa: B007 - `at` names the record of an error
                if future.done():  # one failed: the first in order to fail is raised
                    future.result()
        except (MessageSizeTooLargeError, RecordListTooLargeError) as exc:
            # Refused for its size, by the producer's max_request_size or the topic's max.message.bytes.
            topic, event = records[at]
            size = len(encode(event)[1])
            raise EventTooLarge(f"kafka refused event {event.id} of {size} bytes on {topic} "
                                f"as too large: {type(exc).__name__}") from exc
        except OutOfOrderSequenceNumber as exc:
            # aiokafka#1017: the idempotent producer cannot recover by itself.
            await self._reset_producer()
            raise BusUnavailable("kafka producer sequence broken; recreated") from exc
        except (KafkaError, OSError, TimeoutError) as exc:
            raise BusUnavailable(f"kafka did not acknowledge: {exc!r}") from exc
        finally:
            for future in futures:  # those not awaited after a failure: their outcome is not ours to raise
                if not future.done():
                    future.add_done_callback(_retrieve)
                elif not future.cancelled():
                    future.exception()

    def _admin_client(self, request_timeout_ms: int) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(**client_options(self._settings), request_timeout_ms=request_timeout_ms)

    async def ready(self) -> bool:
        admin = self._admin_client(request_timeout_ms=2000)
        try:
            async with asyncio.timeout(3):
                await admin.start()
            async with asyncio.timeout(3):
                await admin.describe_cluster()
            return True
        except (KafkaError, OSError, TimeoutError):
            return False
        finally:
            await admin.close()

    async def ensure_topics(self, topics: list[str]) -> None:
        await self.check_topics(topics)

    async def check_topics(self, topics: list[str]) -> TopicReport:
        """Create missing topics (unless `create_topics` is false: then TopicsNotReady names them)."""
        async with self._admin("create or check topics") as admin:
            return await prepare(admin, self._settings, topics)

    @contextlib.asynccontextmanager
    async def _admin(self, what: str) -> AsyncIterator[AIOKafkaAdminClient]:
        admin = self._admin_client(request_timeout_ms=int(self._settings.ack_timeout_s * 1000))
        try:
            try:
                async with asyncio.timeout(self._settings.ack_timeout_s):
                    await admin.start()
            except (KafkaError, OSError, TimeoutError) as exc:
                raise await explain_failure(self._settings, exc) from exc
            yield admin
        except (KafkaError, OSError, TimeoutError) as exc:
            raise BusUnavailable(f"kafka: cannot {what}: {exc!r}") from exc
        finally:
            await admin.close()

    async def missing_topics(self, topics: list[str]) -> list[str]:
        async with self._admin("list topics") as admin:
            existing = set(await admin.list_topics())
        return [t for t in topics if t not in existing]

    async def group_members(self, group: str) -> list[str]:
        async with self._admin("describe the group") as admin:
            [response] = await admin.describe_consumer_groups([group])
        members = [m for g in response.to_object()["groups"] for m in g["members"]]
        return [f"{m['client_id']}@{m['client_host'].lstrip('/')} ({m['member_id']})" for m in members]

    async def committed(self, group: str, topics: list[str]) -> dict[Partition, int]:
        async with self._admin("read committed offsets") as admin:
            offsets = await admin.list_consumer_group_offsets(group)
        return {Partition(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()
                if tp.topic in topics and meta.offset >= 0}

    def consumer(self, topics: list[str], group: str) -> KafkaConsumer:
        return KafkaConsumer(self._settings, topics, group)


def _retrieve(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()


class KafkaConsumer:
    def __init__(self, settings: KafkaSettings, topics: list[str], group: str) -> None:
        self._topics = topics
        self._group = group
        self._assignment_timeout_s = settings.assignment_timeout_s
        self._settings = settings
        self._committed: dict[TopicPartition, int] = {}  # by this member, for the lag gauge
        self._consumer = AIOKafkaConsumer(
            *topics,
            **client_options(settings),
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )

    async def start(self) -> None:
        try:
            await self._consumer.start()
        except (KafkaError, OSError) as exc:
            await self._consumer.stop()
            raise await explain_failure(self._settings, exc) from exc

    async def close(self) -> None:
        await self._consumer.stop()

    async def poll(self, max_records: int = 100, timeout_s: float = 1.0) -> list[Delivery]:
        batches = await self._consumer.getmany(
            timeout_ms=int(timeout_s * 1000), max_records=max_records
        )
        out: list[Delivery] = []
        for tp, records in batches.items():
            for r in records:
                out.append(
                    Delivery(
                        partition=Partition(tp.topic, tp.partition),
                        offset=r.offset,
                        timestamp_ms=r.timestamp,
                        event=decode(r.key, r.value or b"", list(r.headers)),
                    )
                )
        self._update_lag()
        return out

    def _update_lag(self) -> None:
        """Lag = the partition's high watermark (as last fetched) minus this group's committed offset."""
        assigned = self._consumer.assignment()
        gone = {(tp.topic, tp.partition) for tp in self._committed if tp not in assigned}
        if gone:
            forget_lag(self._group, gone)
            self._committed = {tp: o for tp, o in self._committed.items() if tp in assigned}
        lags = {}
        for tp, offset in self._committed.items():
            highwater = self._consumer.highwater(tp)
            if highwater is not None:
                lags[(tp.topic, tp.partition)] = highwater - offset
        set_lag(self._group, lags)

    async def commit(self, offsets: dict[Partition, int]) -> None:
        """Partitions a rebalance took away are skipped (their new owner resumes from the last commit);
        aiokafka would refuse the whole commit for them, the held ones included, again and again."""
        assigned = self._consumer.assignment()
        held = {tp: OffsetAndMetadata(o, "") for p, o in offsets.items()
                if (tp := TopicPartition(p.topic, p.partition)) in assigned}
        if held:
            await self._consumer.commit(held)
            self._committed.update({tp: meta.offset for tp, meta in held.items()})
            self._update_lag()

    async def _assignment(self) -> set[TopicPartition]:
        """Wait for the group to assign partitions (aiokafka joins in the background), up to the deadline:
        a group whose other members hold every partition assigns this member none."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._assignment_timeout_s
        while not self._consumer.assignment():
            if loop.time() >= deadline:
                raise NotAssigned(
                    f"group {self._group!r} got no partition of {', '.join(self._topics)} within "
                    f"{self._assignment_timeout_s:g} s: other members of the group hold every partition "
                    "(or the group cannot be joined now)")
            await asyncio.sleep(0.05)
        return set(self._consumer.assignment())

    async def seek_to_time(self, when: datetime) -> dict[Partition, int]:
        assignment = await self._assignment()
        found = await self._consumer.offsets_for_times(
            {tp: int(when.timestamp() * 1000) for tp in assignment}
        )
        ends = await self._consumer.end_offsets(list(assignment))
        positions: dict[Partition, int] = {}
        for tp in assignment:
            hit = found.get(tp)
            offset = hit.offset if hit is not None else ends[tp]
            self._consumer.seek(tp, offset)
            positions[Partition(tp.topic, tp.partition)] = offset
        return positions

    async def end_offsets(self) -> dict[Partition, int]:
        ends = await self._consumer.end_offsets(list(await self._assignment()))
        return {Partition(tp.topic, tp.partition): offset for tp, offset in ends.items()}
