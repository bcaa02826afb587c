"""Feature flags and how one is decided for a caller, with no I/O.

Off beats everything; then a user or tenant on the flag's allow lists gets it; then the
percentage rollout decides by a stable hash of the user id, salted with the flag's name so
that each flag's rollout reaches a different slice of the users.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

# Rollout buckets: a percentage is kept to two decimals (0.01% steps).
BUCKETS = 10_000


class Reason(StrEnum):
    OFF = "off"
    USER_ALLOWED = "user_allowed"
    TENANT_ALLOWED = "tenant_allowed"
    IN_ROLLOUT = "in_rollout"
    NOT_IN_ROLLOUT = "not_in_rollout"


@dataclass(frozen=True)
class Flag:
    name: str
    enabled: bool
    users: frozenset[str] = frozenset()
    tenants: frozenset[str] = frozenset()
    rollout_percent: float = 0.0

    def decide(self, user_id: str, tenant_id: str | None) -> Decision:
        if not self.enabled:
            return Decision(self.name, False, Reason.OFF)
        if user_id in self.users:
            return Decision(self.name, True, Reason.USER_ALLOWED)
        if tenant_id is not None and tenant_id in self.tenants:
            return Decision(self.name, True, Reason.TENANT_ALLOWED)
        if bucket(self.name, user_id) < round(self.rollout_percent * BUCKETS / 100):
            return Decision(self.name, True, Reason.IN_ROLLOUT)
        return Decision(self.name, False, Reason.NOT_IN_ROLLOUT)


@dataclass(frozen=True)
class Decision:
    name: str
    enabled: bool
    reason: Reason


def bucket(flag: str, user_id: str) -> int:
    """The user's place, 0 to BUCKETS - 1, in the flag's rollout: the same on every call, in
    every process (no per-process hash seed), and independent from flag to flag."""
    digest = hashlib.sha256(f"{flag}\0{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS
