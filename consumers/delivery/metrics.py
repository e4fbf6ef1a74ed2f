"""Delivery counters (README "Metrics"): per subscription id (chosen by the operator; no patient data)."""

from prometheus_client import Counter

DELIVERIES = Counter("scanbridge_deliveries_total", "HTTP deliveries to subscriptions by outcome "
                     "(delivered, retried, dead_lettered, skipped, disabled)", ["subscription", "outcome"])
