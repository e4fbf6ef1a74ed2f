"""The project files: every dependency in pyproject.toml is imported; the Makefile builds Kafka only for
the targets that run it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("schemas", "bus", "receiver", "consumers", "scanbridge", "simulators", "state")
INDIRECT = {"python-multipart"}  # imported by starlette's request.form(), which the simulators call


def _dependencies() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0] for spec in project["dependencies"]]


def _imported() -> set[str]:
    """Top-level module names imported anywhere in the installed packages."""
    names: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module.split(".")[0])
    return names


def test_every_runtime_dependency_is_imported() -> None:
    provides: dict[str, set[str]] = {}
    for module, dists in packages_distributions().items():
        for dist in dists:
            provides.setdefault(dist.lower().replace("_", "-"), set()).add(module)
    imported = _imported()
    unused = [dep for dep in _dependencies()
              if dep not in INDIRECT and not provides.get(dep.lower().replace("_", "-"), set()) & imported]
    assert unused == []


def _make_plan(target: str) -> str:
    """The commands `make TARGET` would run from scratch (`-n -B`: print only, everything out of date)."""
    out = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout


def test_make_run_and_the_demo_need_no_kafka_build() -> None:
    for target in ("run", "demo", "lint"):
        plan = _make_plan(target)
        assert "kafka.sh" not in plan and "mvn" not in plan, target
        assert "scanbridge" in plan or "ruff" in plan


def test_the_targets_on_kafka_build_the_broker() -> None:
    for target in ("setup", "test", "test-slow", "run-kafka", "bench"):
        assert "deploy/kafka/kafka.sh build" in _make_plan(target), target


def test_make_test_slow_collects_the_soak_test_and_make_test_does_not() -> None:
    """`pytest -m slow` exits 5 when it selects nothing; `-m "not slow"` (make test) is its complement."""
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "slow",
                          "-p", "no:cacheprovider", "tests/bus/test_spool.py"],  # its file is enough
                         cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout[-2000:]
    slow = [line for line in out.stdout.splitlines() if "::" in line]
    assert any("test_a_broker_restart_loses_no_acknowledged_event" in t for t in slow)
