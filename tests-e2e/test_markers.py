"""The markers that let a run leave these tests out: `-m "not e2e"`, `-m "not stops_rabbitmq"`,
checked by collecting this directory as a run would (nothing is started)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
OUTAGE = "tests-e2e/test_resilience.py::test_rabbitmq_down_outbox_holds_events_until_it_is_back"


def collected(*options: str) -> set[str]:
    collect = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    run = subprocess.run(
        [*collect, *options, HERE.name],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode in (0, 5), run.stdout + run.stderr  # 5: every test deselected
    return {line for line in run.stdout.splitlines() if "::" in line}


def test_every_test_here_is_e2e_and_only_the_outage_stops_rabbitmq() -> None:
    every = collected()
    assert OUTAGE in every and len(every) > 1
    assert collected("-m", "e2e") == every
    assert every - collected("-m", "not stops_rabbitmq") == {OUTAGE}
