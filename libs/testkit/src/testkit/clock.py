from __future__ import annotations

from datetime import UTC, datetime, timedelta


def hours_from_now(hours: float, days_ahead: int = 1) -> str:
    """An ISO-8601 UTC time `hours` after the top of the hour `days_ahead` days from now."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return (start + timedelta(days=days_ahead, hours=hours)).isoformat()
