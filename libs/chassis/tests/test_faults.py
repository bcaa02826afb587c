"""Fault points in a process of their own: free unless named, a crash or a stall where named."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from chassis.config import ChassisSettings
from chassis.faults import FaultPoint

# Reaches the points named in its arguments, in order, saying so after each.
PROCESS = """
import sys
from chassis.config import ChassisSettings
from chassis.faults import FaultPoint, Faults
from chassis.logging import configure_logging

settings = ChassisSettings(service_name="faulty")
configure_logging(settings.service_name)
faults = Faults(settings.fault_point)
for name in sys.argv[1:]:
    faults.reached(FaultPoint(name))
    print("passed", name, flush=True)
"""


def start(output: Path, armed: str | None, *points: FaultPoint) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "FAULT_POINT"}
    if armed is not None:
        env["FAULT_POINT"] = armed
    with output.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", PROCESS, *points], env=env, stdout=out, stderr=out
        )


def said(output: Path) -> list[str]:
    return [line for line in output.read_text().splitlines() if line.startswith("passed")]


def test_no_fault_point_named_is_free(tmp_path: Path) -> None:
    output = tmp_path / "out"
    process = start(output, None, *FaultPoint)
    assert process.wait(timeout=30) == 0
    assert said(output) == [f"passed {point}" for point in FaultPoint]


def test_the_named_point_kills_the_process_there_and_only_there(tmp_path: Path) -> None:
    output = tmp_path / "out"
    commit, publish = FaultPoint.AFTER_COMMIT_BEFORE_ACK, FaultPoint.AFTER_PUBLISH_BEFORE_MARK
    process = start(output, commit, publish, commit, publish)
    assert process.wait(timeout=30) == -signal.SIGKILL
    assert said(output) == [f"passed {publish}"]
    logged = [json.loads(line) for line in output.read_text().splitlines() if line.startswith("{")]
    assert [(e["event"], e["point"]) for e in logged] == [
        ("fault_point.reached", "after_commit_before_ack")
    ]


def test_a_pause_point_stalls_the_process_until_it_is_continued_and_only_once(
    tmp_path: Path,
) -> None:
    output = tmp_path / "out"
    pause = FaultPoint.PAUSE_AFTER_CLAIM
    process = start(output, pause, pause, pause)
    try:
        deadline = time.monotonic() + 30
        while not stopped(process.pid):
            assert process.poll() is None and time.monotonic() < deadline, output.read_text()
            time.sleep(0.05)
        assert said(output) == []
        os.kill(process.pid, signal.SIGCONT)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
    assert said(output) == [f"passed {pause}", f"passed {pause}"]


def stopped(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


def test_the_setting_takes_only_known_points(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULT_POINT", "after_publish_before_mark")
    assert ChassisSettings(service_name="s").fault_point is FaultPoint.AFTER_PUBLISH_BEFORE_MARK
    monkeypatch.setenv("FAULT_POINT", "after_everything")
    with pytest.raises(ValidationError, match="fault_point"):
        ChassisSettings(service_name="s")
