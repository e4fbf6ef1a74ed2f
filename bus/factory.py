"""Build the configured bus backend."""

from pathlib import Path

from bus.base import Bus
from bus.local import LocalBus
from bus.spool import SpoolingBus
from schemas.settings import BusSettings


def make_bus(settings: BusSettings, spool_path: Path | None = None) -> Bus:
    """The configured backend; with `spool_path`, Kafka publishes fall back to that local spool file.

    A spool file belongs to one process (the receiver's, say): give each process its own path.
    """
    if settings.backend == "kafka":
        from bus.kafka import KafkaBus  # aiokafka only when Kafka is configured

        kafka = KafkaBus(settings.kafka)
        if spool_path is None:
            return kafka
        return SpoolingBus(kafka, LocalBus(spool_path))
    return LocalBus(settings.local_path)
