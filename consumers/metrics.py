"""Prometheus counters of the worker (received, handled, retried, failed, dead-lettered)."""

from prometheus_client import Counter

WORKER_EVENTS = Counter("scanbridge_worker_events_total", "Worker deliveries by outcome", ["outcome"])
