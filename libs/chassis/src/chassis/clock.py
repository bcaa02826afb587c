"""The time services stamp things with."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now in UTC, to the millisecond: what MongoDB stores, so an answer given at creation
    reads the same as the document read back later."""
    return as_stored(datetime.now(UTC))


def as_stored(moment: datetime) -> datetime:
    """An aware `moment` as MongoDB gives it back: in UTC, to the millisecond (a time a
    caller sent, answered as it will read later)."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
