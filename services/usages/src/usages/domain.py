"""Usages: what people did with the product, recorded for product analytics. No I/O.

A usage is recorded once, from a web page (a page view, a use, a crash, a measurement, a
trace) or from a service's usage event, and then waits to be delivered to the analytics
service. Who did it is a signed-in user, or a visitor known only by the anonymous id their
browser made up; the tenant, when there is one, is the group the usage counts for.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from chassis.errors import RuleViolation


class Kind(StrEnum):
    MEASURE = "measure"
    USE = "use"
    CRASH = "crash"
    TRACE = "trace"
    PAGEVIEW = "pageview"
    # A product action a service published (`contracts.usages.UsageRecorded`).
    EVENT = "event"


class Status(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    # Refused by the analytics service for good, or not taken by it after every attempt
    # allowed, with the reason: not tried again.
    FAILED = "failed"


class NobodyNamed(RuleViolation):
    """Neither a signed-in caller nor an anonymous id: nobody to count the usage for."""


@dataclass(frozen=True)
class Who:
    """Whom a usage is counted for: a user (`identified`), or an anonymous visitor."""

    distinct_id: str
    identified: bool
    tenant_id: str | None = None
    # A signed-in user's earlier anonymous id, which links what they did before signing in.
    anonymous_id: str | None = None

    @classmethod
    def of(cls, user_id: str | None, tenant_id: str | None, anonymous_id: str | None) -> Who:
        if user_id:
            return cls(user_id, True, tenant_id, anonymous_id)
        if anonymous_id:
            return cls(anonymous_id, False)
        raise NobodyNamed("without a bearer token, an anonymous_id is required")


@dataclass(frozen=True)
class Usage:
    id: str
    kind: Kind
    event: str
    who: Who
    occurred_at: datetime
    properties: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def record(
        cls,
        kind: Kind,
        event: str,
        who: Who,
        now: datetime,
        properties: Mapping[str, Any],
        usage_id: str | None = None,
    ) -> Usage:
        """A new usage; `usage_id` is given when the usage has one already (the id of the
        event that reported it), so that reporting it again is the same usage."""
        kept = {name: value for name, value in properties.items() if value is not None}
        return cls(usage_id or str(uuid.uuid4()), kind, event, who, now, kept)


@dataclass(frozen=True)
class Retries:
    """How usages the analytics service could not take now are tried again: each claim of a
    usage is an attempt; after one that failed the usage waits, twice as long each time up
    to `longest_wait`, and after `max_attempts` it is given up (failed with the last error),
    so that an outage is waited out for a while but nothing waits forever."""

    max_attempts: int
    first_wait: timedelta
    longest_wait: timedelta

    def wait_after(self, attempts: int) -> timedelta:
        # Capped in seconds first: a large count would overflow a timedelta.
        doubled = self.first_wait.total_seconds() * 2.0 ** min(max(attempts - 1, 0), 60)
        return timedelta(seconds=min(self.longest_wait.total_seconds(), doubled))

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts

    def patience(self) -> timedelta:
        """How long a usage is waited for at most, from its first attempt to its last (not
        counting the attempts' own time)."""
        waits = (self.wait_after(n) for n in range(1, self.max_attempts))
        return sum(waits, timedelta())
