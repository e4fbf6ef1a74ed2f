"""The bus: publish with durable acknowledgement, consume as a group, seek by time (DESIGN.md §4)."""

from bus.base import Bus, Consumer, Delivery, Partition
from bus.errors import BusError, BusUnavailable

__all__ = ["Bus", "BusError", "BusUnavailable", "Consumer", "Delivery", "Partition"]
