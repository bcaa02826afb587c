"""A service's log read back as its JSON records, one run at a time."""

from __future__ import annotations

from pathlib import Path

from devstack.system import RUN_HEADER
from testkit.logs import log_runs, named


def test_records_are_split_by_run_and_other_lines_left_out(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    log.write_text(
        "\n".join(
            [
                f"{RUN_HEADER}2026-01-01T00:00:00+00:00 python -m svc on port 1",
                '{"event": "service.started"}',
                "Traceback (most recent call last):",
                '{"event": "fault_point.reached", "point": "after_commit_before_ack"}',
                f"{RUN_HEADER}2026-01-01T00:00:05+00:00 python -m svc on port 1",
                '["not", "a", "record"]',
                '{"event": "service.started"}',
            ]
        )
    )
    first, second = log_runs(log)
    assert [r["event"] for r in first] == ["service.started", "fault_point.reached"]
    assert second == [{"event": "service.started"}]
    assert named(first, "fault_point.reached") == [
        {"event": "fault_point.reached", "point": "after_commit_before_ack"}
    ]
