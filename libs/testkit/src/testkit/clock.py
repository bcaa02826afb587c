"""Times for tests against the real clock (API and end-to-end tests), where `now` cannot be
stopped: built from one reference instant, read and truncated once per test session, so a test
that crosses the hour between two calls still gets frames that line up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_SESSION_HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def hours_from_now(hours: float, days_ahead: int = 1) -> str:
    """An ISO-8601 UTC time `hours` after the top of the hour the test session started in,
    `days_ahead` days later (a day by default: in the future for the whole session)."""
    return (_SESSION_HOUR + timedelta(days=days_ahead, hours=hours)).isoformat()
