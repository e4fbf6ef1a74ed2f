"""Prometheus metrics of the command executor. Labels: the command type (a registered one, else `other`)
and the outcome (received, repeated, succeeded, failed, refused, awaiting)."""

from prometheus_client import Counter

COMMANDS = Counter("scanbridge_commands_total", "Commands by type and outcome", ["type", "outcome"])
