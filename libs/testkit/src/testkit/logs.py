"""A service's log as tests read it: its structlog JSON records, one process run at a time.

devstack's `System` appends every run of a service to one file, each run after a header line;
lines that are not JSON objects (a traceback) are left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from devstack.system import RUN_HEADER

Record = dict[str, Any]


def log_runs(path: Path) -> list[list[Record]]:
    """The records of each run of the service that logs to `path`, oldest run first."""
    runs: list[list[Record]] = []
    for line in path.read_text().splitlines():
        if line.startswith(RUN_HEADER):
            runs.append([])
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if runs and isinstance(record, dict):
            runs[-1].append(record)
    return runs


def named(records: list[Record], event: str) -> list[Record]:
    return [r for r in records if r.get("event") == event]
