"""The CLI tests run on both bus backends, with the bus suite's fixtures."""

from tests.bus.conftest import bus, bus_settings

__all__ = ["bus", "bus_settings"]
