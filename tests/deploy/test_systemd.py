"""deploy/systemd: units that `systemd-analyze verify` accepts without a warning (with the installed
scanbridge in place of /opt/scanbridge), one per process, each on its own ops port."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, ROOT, run

UNITS = DEPLOY / "systemd"


def test_the_units_verify_without_warnings(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing (Debian package systemd)")
    scanbridge = ROOT / ".venv" / "bin" / "scanbridge"
    for unit in UNITS.iterdir():
        installed = unit.read_text().replace("/opt/scanbridge/bin/scanbridge", str(scanbridge))
        (tmp_path / unit.name).write_text(installed)
    done = run(analyze, "verify", *sorted(tmp_path.iterdir()))
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "")


def test_a_unit_with_a_misspelt_directive_is_reported(tmp_path: Path) -> None:
    unit = tmp_path / "scanbridge-worker.service"
    unit.write_text((UNITS / unit.name).read_text().replace("/opt/scanbridge/bin/scanbridge", "/bin/true")
                    .replace("NoNewPrivileges=", "NoNewPrivilegez="))
    done = run(shutil.which("systemd-analyze") or "systemd-analyze", "verify", unit)
    assert "Unknown key 'NoNewPrivilegez'" in done.stderr


def test_one_unit_per_process_and_distinct_ops_ports() -> None:
    commands, ports = {}, {}
    for unit in UNITS.glob("*.service"):
        text = unit.read_text()
        commands[unit.stem] = re.search(r"^ExecStart=/opt/scanbridge/bin/scanbridge (\w+)$", text, re.M)[1]  # type: ignore[index]
        assert "RestartPreventExitStatus=2" in text and "User=scanbridge" in text
        if port := re.search(r"^Environment=SCANBRIDGE_OPS__PORT=(\d+)$", text, re.M):
            ports[unit.stem] = port[1]
    assert commands == {"scanbridge-receiver": "receiver", "scanbridge-worker": "worker",
                        "scanbridge-poller": "poller", "scanbridge-deliver": "deliver"}
    assert ports == {"scanbridge-worker": "8710", "scanbridge-poller": "8711", "scanbridge-deliver": "8712"}
