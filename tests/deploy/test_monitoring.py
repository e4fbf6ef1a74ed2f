"""deploy/monitoring: Prometheus alert rules valid for Prometheus' own rule parser and a Grafana
dashboard whose every PromQL expression parses; every metric either reads is one scanbridge exports."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric

import bus.metrics
import consumers.metrics
import receiver.metrics
from tests.deploy.conftest import DEPLOY, run, tool

MONITORING = DEPLOY / "monitoring"
SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}


def families() -> list[Metric]:
    """Every metric scanbridge defines (bus, worker and pollers, receiver)."""
    return [family for module in (bus.metrics, consumers.metrics, receiver.metrics)
            for value in vars(module).values() if isinstance(value, MetricWrapperBase)
            for family in value.describe()]


def exported() -> set[str]:
    return {family.name + suffix for family in families() for suffix in SUFFIXES.get(family.type, [""])}


def _check(kind: str, path: Path) -> tuple[int, list[str], list[str]]:
    done = run(tool("deploycheck"), kind, path)
    lines = done.stdout.splitlines()
    metrics = sorted({line.rsplit(" ", 1)[1] for line in lines if ": metric: " in line})
    problems = [line for line in lines if ": metric: " not in line and not line.endswith(": ok")]
    return done.returncode, metrics, problems + done.stderr.splitlines()


def test_the_alert_rules_are_valid_and_read_only_exported_metrics() -> None:
    code, metrics, problems = _check("rules", MONITORING / "alerts.yaml")
    assert (code, problems) == (0, [])
    assert metrics and set(metrics) <= exported(), set(metrics) - exported()


def test_the_alerts_cover_the_spool_the_lag_a_failing_connection_and_dead_letters() -> None:
    text = (MONITORING / "alerts.yaml").read_text()
    for alert in ("ScanbridgeSpoolGrowing", "ScanbridgeConsumerLagGrowing", "ScanbridgeConnectionFailing",
                  "ScanbridgeDeadLetters"):
        assert f"alert: {alert}\n" in text


def test_a_broken_rule_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "alerts.yaml"
    broken.write_text((MONITORING / "alerts.yaml").read_text().replace(
        "expr: scanbridge_spool_oldest_age_seconds > 600", "expr: scanbridge_spool_oldest_age_seconds >"))
    code, _, problems = _check("rules", broken)
    assert code == 1 and any("ScanbridgeSpoolGrowing" in p or "parse error" in p for p in problems), problems


def test_the_dashboard_parses_and_shows_every_metric_family() -> None:
    code, metrics, problems = _check("grafana", MONITORING / "grafana-dashboard.json")
    assert (code, problems) == (0, [])
    assert set(metrics) <= exported(), set(metrics) - exported()
    suffixes = ("_bucket", "_sum", "_count", "_total")
    shown = {m.removesuffix(s) for m in metrics for s in suffixes if m.endswith(s)} | set(metrics)
    defined = {family.name for family in families()}
    assert len(defined) >= 14 and defined <= shown, f"not on the dashboard: {defined - shown}"
