"""Build the configured bus backend."""

from bus.base import Bus
from schemas.settings import BusSettings


def make_bus(settings: BusSettings) -> Bus:
    if settings.backend == "kafka":
        from bus.kafka import KafkaBus

        return KafkaBus(settings.kafka)
    from bus.local import LocalBus

    return LocalBus(settings.local_path)
