"""`scanbridge receiver` as shipped (issue 16): on uvloop with httptools, and `--workers N` as N processes
on one port that share the work, each with its own spool, stopped together by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from queue import Empty, Queue

import httpx
import pytest

from scanbridge.receivers import spool_of, stale_spools
from tests.tcpgate import free_port

TOKEN = "receiver-processes-token-0123456789"
START_S = 90.0  # a bound on start-up on a loaded 2-core machine, not a figure under test


def _config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "scanbridge.toml"
    path.write_text(f"""
state_dir = "{tmp_path / 'state'}"
log_level = "INFO"
log_format = "json"
[receiver]
port = {port}
[bus]
backend = "local"
local_path = "{tmp_path / 'bus.sqlite3'}"
[[itero]]
id = "clinic"
company_id = "4242"
base_url = "http://127.0.0.1:9"
token_url = "http://127.0.0.1:9/token"
access_token = "a"
refresh_token = "r"
webhook.token = "{TOKEN}"
""")
    return path


@contextmanager
def _receiver(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], Queue[dict[str, object]]]]:
    """`scanbridge --config … receiver ARGS` with its JSON log lines in a queue."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANBRIDGE_") and k != "KAFKA_BOOTSTRAP"}
    command = [str(Path(sys.executable).with_name("scanbridge")), "--config", str(_config(tmp_path, port)),
               "receiver", *args]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    lines: Queue[dict[str, object]] = Queue()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            try:
                lines.put(json.loads(line))
            except ValueError:
                lines.put({"event": line})

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.join(timeout=30)  # it ends at the end of stderr
        assert proc.stderr is not None
        proc.stderr.close()


def _started(lines: Queue[dict[str, object]], count: int) -> list[dict[str, object]]:
    """The first `count` "receiver on …" lines (one per serving process)."""
    found: list[dict[str, object]] = []
    seen: list[object] = []
    while len(found) < count:
        try:
            line = lines.get(timeout=START_S)
        except Empty:
            raise AssertionError(f"no 'receiver on' line; the log said: {seen}") from None
        seen.append(line.get("event"))
        if str(line.get("event", "")).startswith("receiver on"):
            found.append(line)
    return found


def _base(tmp_path: Path) -> str:
    text = (tmp_path / "scanbridge.toml").read_text()
    port = text.split("port = ", 1)[1].split("\n", 1)[0]
    return f"http://127.0.0.1:{port}"


def _post(base: str) -> httpx.Response:
    body = {"Id": str(uuid.uuid4()), "CompanyId": 4242}
    for _ in range(int(START_S * 10)):  # the port may open a moment after the log line
        try:
            with httpx.Client(base_url=base, timeout=30) as http:  # a new connection each time
                return http.post(f"/hooks/itero/{TOKEN}", json=body)
        except httpx.ConnectError:
            threading.Event().wait(0.1)
    raise AssertionError("the receiver never accepted a connection")


def _records(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "bus.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM records").fetchone()[0])


def test_scanbridge_receiver_runs_on_uvloop_with_httptools(tmp_path: Path) -> None:
    with _receiver(tmp_path) as (proc, lines):
        [line] = _started(lines, 1)
        assert (line["event_loop"], line["http"]) == ("uvloop", "httptools")
        assert line["pid"] == proc.pid
        assert _post(_base(tmp_path)).status_code == 202


def test_workers_run_that_many_receiver_processes_on_one_port_and_stop_together(tmp_path: Path) -> None:
    with _receiver(tmp_path, "--workers", "2") as (proc, lines):
        started = _started(lines, 2)
        pids = {line["pid"] for line in started}
        assert len(pids) == 2 and proc.pid not in pids
        assert all(line["event_loop"] == "uvloop" for line in started)
        answers = [_post(_base(tmp_path)) for _ in range(10)]
        assert [a.status_code for a in answers] == [202] * 10
        assert _records(tmp_path) == 20  # inbound record and scan.notified of each
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(int(str(pid)), 0)


def test_each_receiver_process_has_its_own_spool_and_spools_of_missing_processes_are_found(
        tmp_path: Path) -> None:
    spool = tmp_path / "receiver-spool.sqlite3"
    assert spool_of(spool, 0) == spool
    assert spool_of(spool, 1) == tmp_path / "receiver-spool.1.sqlite3"
    for index in (1, 2, 3):
        spool_of(spool, index).touch()
    (tmp_path / "receiver-spool.x.sqlite3").touch()
    assert stale_spools(spool, 2) == [spool_of(spool, 2), spool_of(spool, 3)]
