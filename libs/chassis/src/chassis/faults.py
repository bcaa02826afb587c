"""Named fault points: where a crash test makes a service crash, or stall, on purpose.

A crash test has to hit one exact window (an event committed but not acknowledged, published
but not marked sent), not kill the process at a random moment and hope it was inside. The
chassis calls `Faults.reached(point)` at each such place. It does nothing unless the
`FAULT_POINT` setting names that point, which only tests set. When it does, the first time the
process gets there it logs the point and sends itself SIGKILL (no cleanup, no finally: as a
real crash) or, for a `pause_` point, SIGSTOP (the whole process stalls, as on a frozen host,
and carries on from there when something sends it SIGCONT).
"""

from __future__ import annotations

import os
import signal
from enum import StrEnum

from chassis.logging import get_logger

log = get_logger(__name__)


class FaultPoint(StrEnum):
    # A consumer's inbox transaction has committed; its messages are not acknowledged yet.
    AFTER_COMMIT_BEFORE_ACK = "after_commit_before_ack"
    # The broker confirmed the relay's batch; the outbox does not say sent yet.
    AFTER_PUBLISH_BEFORE_MARK = "after_publish_before_mark"
    # The relay holds the lease on a batch and has published none of it.
    PAUSE_AFTER_CLAIM = "pause_after_claim"


_SIGNALS = {
    FaultPoint.AFTER_COMMIT_BEFORE_ACK: signal.SIGKILL,
    FaultPoint.AFTER_PUBLISH_BEFORE_MARK: signal.SIGKILL,
    FaultPoint.PAUSE_AFTER_CLAIM: signal.SIGSTOP,
}


class Faults:
    """The one fault point this process is to stop at, if any (the `FAULT_POINT` setting)."""

    def __init__(self, armed: FaultPoint | None = None) -> None:
        self._armed = armed

    def reached(self, point: FaultPoint) -> None:
        if point != self._armed:
            return
        # Once: a stalled process that is resumed goes on as if nothing had happened.
        self._armed = None
        log.warning("fault_point.reached", point=point.value, pid=os.getpid())
        os.kill(os.getpid(), _SIGNALS[point])
