"""Every command line of the README's ```bash blocks runs as written (issue 11 item 7).

Each line has a plan in PLAN, checked by the first test, so a new README command without one fails:

- executed: run to its end from a fresh shell in a copy of the project (Makefile, pyproject, deploy,
  the virtualenv linked; examples copied), its exit status checked;
- started: a long-running command (`make run`, `make run-kafka`, `sim itero`), started, checked to
  serve (`/healthz`, a port that answers), then stopped with Ctrl-C (SIGINT to its process group);
- parsed: only checked to exist (`make -n`), with the reason in PLAN.

The copy replaces the fixed ports 8700 (receiver), 8701 (simulator) and 9092 (Kafka) with free ones,
in the commands and in its examples/demo.toml, so a run never collides with anything on this machine;
the simulator's port and URL come from SCANBRIDGE_SIM_ITERO_PORT / _URL, Kafka's from KAFKA_PORT.
Everything else — paths under var/, tokens, counts — is the README's text.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bus.deadletter import make_dead_letter
from bus.local import LocalBus
from schemas.envelope import Envelope
from schemas.topics import Topics

ROOT = Path(__file__).resolve().parent.parent
PORTS = {"8700": "receiver", "8701": "simulator", "9092": "kafka"}

EXECUTED, STARTED, PARSED = "executed", "started", "parsed"
WALK = "test_the_walkthrough_runs_as_written"
REPLAY = "test_the_replay_and_dead_letter_commands_run_as_written"
PLAN: dict[str, tuple[str, str]] = {
    "make run": (STARTED, "test_make_run_serves_on_the_embedded_bus_and_stops_on_ctrl_c"),
    "make test": (PARSED, "the whole suite, which this test is part of: `make -n test` only"),
    "make demo": (EXECUTED, "test_make_demo_runs_as_written"),
    ".venv/bin/scanbridge sim itero": (STARTED, WALK),
    "make run-kafka": (STARTED, WALK),
    ".venv/bin/scanbridge sim itero-scan --size 2000000 --callback "
    "http://127.0.0.1:8700/hooks/itero/demo-webhook-token-0123456789abcdefghij":
        (EXECUTED, WALK),
    "export KAFKA_BOOTSTRAP=127.0.0.1:9092 SCANBRIDGE_CONFIG=examples/demo.toml":
        (EXECUTED, WALK),
    ".venv/bin/scanbridge tail events --count 2": (EXECUTED, WALK),
    ".venv/bin/scanbridge tail artifacts --count 2": (EXECUTED, WALK),
    "find var/artifacts -name '*.zip'": (EXECUTED, WALK),
    ".venv/bin/scanbridge replay --from 2026-11-01T00:00 --to 2026-11-02T00:00 --vendor itero "
    "--type order.updated --dry-run": (EXECUTED, REPLAY),
    ".venv/bin/scanbridge replay --from 2026-11-01T00:00 --vendor itero --to-topic lab-x.reprocess":
        (EXECUTED, REPLAY),
    ".venv/bin/scanbridge replay --from 2026-11-01T00:00 --group scanbridge-worker":
        (EXECUTED, REPLAY),
    ".venv/bin/scanbridge dlq list": (EXECUTED, REPLAY),
    ".venv/bin/scanbridge dlq show <id>": (EXECUTED, REPLAY),
    ".venv/bin/scanbridge dlq retry <id>": (EXECUTED, REPLAY),
    ".venv/bin/scanbridge dlq retry --all": (EXECUTED, REPLAY),
}


def _without_comment(line: str) -> str:
    """The line up to an unquoted `#` that starts a word."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def readme_blocks() -> list[list[str]]:
    """The command lines of each ```bash block: comments dropped, continuation lines joined."""
    blocks = []
    for body in re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        joined = re.sub(r"\\\n\s*", " ", body)
        lines = [" ".join(_without_comment(line).split()) for line in joined.splitlines()]
        blocks.append([line for line in lines if line])
    return blocks


def _block_with(command: str) -> list[str]:
    return next(block for block in readme_blocks() if command in block)


def test_every_readme_command_has_a_plan() -> None:
    commands = [line for block in readme_blocks() for line in block]
    assert commands, "no ```bash block found"
    unplanned = [c for c in commands if c not in PLAN]
    assert unplanned == [], "add each new README command to PLAN in tests/test_readme.py (and run it)"
    assert sorted(set(PLAN) - set(commands)) == []  # no plan for a command the README dropped
    names = {name for mode, name in PLAN.values() if mode != PARSED}
    assert names <= {name for name in globals() if name.startswith("test_")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Project:
    """A copy of the project to run README commands in, with its own var/ and free ports."""

    root: Path
    ports: dict[str, str]
    env: dict[str, str] = field(default_factory=dict)
    started: list[subprocess.Popen[str]] = field(default_factory=list)

    def text(self, command: str) -> str:
        """The command with the README's fixed ports replaced by this copy's."""
        for fixed, free in self.ports.items():
            command = command.replace(f"127.0.0.1:{fixed}", f"127.0.0.1:{free}")
        return command

    def run(self, command: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run to its end in a fresh shell; `export A=B …` is kept for the lines after it."""
        line = self.text(command)
        if line.startswith("export "):
            for assignment in line.removeprefix("export ").split():
                name, _, value = assignment.partition("=")
                self.env[name] = value
            return subprocess.CompletedProcess(line, 0, "", "")
        return subprocess.run(["bash", "-c", line], cwd=self.root, env=self.env, text=True,
                              capture_output=True, timeout=timeout, check=False)

    def start(self, command: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(["bash", "-c", f"exec {self.text(command)}"], cwd=self.root, env=self.env,
                                text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.started.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[str]) -> str:
        """Ctrl-C to its process group (as a terminal sends it); its output."""
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            raise AssertionError(f"did not stop on Ctrl-C:\n{out[-3000:]}") from None
        return out


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    root = tmp_path / "project"
    root.mkdir()
    for name in ("Makefile", "deploy", ".venv", "README.md"):
        (root / name).symlink_to(ROOT / name)
    # The virtualenv is this checkout's (make setup made it): make must not try to rebuild it inside the
    # linked folder because pyproject.toml changed since, so the copy's pyproject is as old as it.
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    installed = (ROOT / ".venv" / ".installed").stat().st_mtime
    os.utime(root / "pyproject.toml", (installed - 1, installed - 1))
    ports = {fixed: str(_free_port()) for fixed in PORTS}
    shutil.copytree(ROOT / "examples", root / "examples")
    demo = root / "examples" / "demo.toml"
    demo.write_text(re.sub(r"\b(8700|8701|9092)\b", lambda m: ports[m[1]], demo.read_text()))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SCANBRIDGE_", "KAFKA_")) and k not in ("VIRTUAL_ENV", "MAKEFLAGS", "MFLAGS")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(ROOT)))  # the virtualenv is not on the PATH
    env.update({"KAFKA_PORT": ports["9092"], "SCANBRIDGE_SIM_ITERO_PORT": ports["8701"],
                "SCANBRIDGE_SIM_ITERO_URL": f"http://127.0.0.1:{ports['8701']}"})
    made = Project(root, ports, env)
    try:
        yield made
    finally:
        for proc in made.started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()


def _until(what: str, check: object, proc: subprocess.Popen[str], timeout: float) -> None:
    """Wait until `check()` holds; fail at once if `proc` ended (a bound, not a timed assertion)."""
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if proc.poll() is not None:
            raise AssertionError(f"ended before {what}:\n{proc.communicate()[0][-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout:.0f} s")
        time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except OSError:
        return False


def _listening(port: str) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", int(port))) == 0


def test_make_test_is_a_target() -> None:
    """`make test` is the suite itself: parsed only (see PLAN)."""
    plan = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "pytest" in plan.stdout


@pytest.mark.timeout(300)
def test_make_run_serves_on_the_embedded_bus_and_stops_on_ctrl_c(project: Project) -> None:
    [command] = [c for c in readme_blocks()[0] if c == "make run"]
    running = project.start(command)
    _until("serving /readyz", lambda: _answers(f"http://127.0.0.1:{project.ports['8700']}/readyz"),
           running, 120)
    out = project.stop(running)
    assert "Traceback" not in out, out[-3000:]
    assert (project.root / "var" / "bus.sqlite3").exists()  # the embedded bus, in the copy's var/


@pytest.mark.timeout(300)
def test_make_demo_runs_as_written(project: Project) -> None:
    [command] = [c for c in _block_with("make demo") if c == "make demo"]
    done = project.run(command)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "artifacts stored" in done.stdout


async def _seed(bus_file: Path) -> str:
    """Events in the replay window's topics and one dead letter; the dead letter's listed id."""
    topics = Topics()
    bus = LocalBus(bus_file)
    await bus.ensure_topics(topics.all())
    await bus.start()
    try:
        event = Envelope(id="e1", source="scanbridge/itero/4242", type="order.updated", subject="rx1",
                         partitionkey="itero:4242:rx1", data={"order_id": "1"})
        await bus.publish(topics.events, event)
        letter = make_dead_letter(event, topics.events, "order not ready after 30 min", [])
        await bus.publish(topics.deadletter, letter)
    finally:
        await bus.close()
    return letter.id[:8]


@pytest.mark.timeout(300)
def test_the_replay_and_dead_letter_commands_run_as_written(project: Project) -> None:
    """On the embedded bus of examples/demo.toml (as `make` sets it), seeded with an event and a dead
    letter; `<id>` is that dead letter's listed id. The group has no live member, so it is rewound."""
    ident = asyncio.run(_seed(project.root / "var" / "bus.sqlite3"))
    project.env["SCANBRIDGE_CONFIG"] = "examples/demo.toml"
    block = _block_with(".venv/bin/scanbridge dlq list")
    outputs = {}
    for command in block:
        done = project.run(command.replace("<id>", ident), timeout=120)
        assert done.returncode == 0, f"{command}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        outputs[command] = done.stdout
    assert "would replay" in outputs[block[0]]
    assert "1 dead letters, 1 not retried" in outputs[".venv/bin/scanbridge dlq list"]
    assert json.loads(outputs[".venv/bin/scanbridge dlq show <id>"])["original"]["id"] == "e1"
    assert "1 dead letters retried" in outputs[".venv/bin/scanbridge dlq retry <id>"]
    assert "0 dead letters retried" in outputs[".venv/bin/scanbridge dlq retry --all"]


@pytest.mark.timeout(600)
def test_the_walkthrough_runs_as_written(project: Project) -> None:
    """Three terminals: the simulator and `make run-kafka` (its own broker) started, then the scan, the
    tails and the find run to their end; at the end Ctrl-C to both and `make kafka-stop`."""
    block = _block_with("make run-kafka")
    sim, run_kafka, *rest = block
    try:
        simulator = project.start(sim)
        _until("listening", lambda: _listening(project.ports["8701"]), simulator, 60)
        stack = project.start(run_kafka)
        _until("ready", lambda: _answers(f"http://127.0.0.1:{project.ports['8700']}/readyz"), stack, 400)
        outputs = {}
        for command in rest:
            done = project.run(command, timeout=120)
            assert done.returncode == 0, f"{command}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
            outputs[command] = done.stdout
        events = [json.loads(line)["type"] for line in outputs[rest[2]].splitlines()]
        assert events == ["scan.notified", "order.updated"]
        stored = [json.loads(line)["data"]["kind"] for line in outputs[rest[3]].splitlines()]
        assert sorted(stored) == ["images", "scan_3d"]
        assert re.search(r"var/artifacts/itero/4242/.+/scan_3d/.+-IDE\.zip", outputs[rest[4]])
        for proc in (stack, simulator):
            assert "Traceback" not in project.stop(proc)
    finally:
        subprocess.run(["make", "kafka-stop"], cwd=project.root, env=project.env, capture_output=True,
                       timeout=120, check=False)
