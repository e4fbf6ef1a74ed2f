"""The iTero stack (simulator, receiver on real Kafka) for the downstream example's end-to-end test."""

from tests.itero.conftest import connection_options, poller_settings, sim, stack  # noqa: F401
