"""The audit trail: entries, each what one actor did to one target for one tenant, and how it
ended. An entry is written once and never changed; there are no rules beyond that."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True)
class AuditEntry:
    # The id of the event that reported it: one event, one entry, however often delivered.
    id: str
    # None for what concerns no tenant (a person registering without an organization).
    tenant_id: str | None
    actor_id: str | None
    action: str
    target: str
    outcome: Outcome
    detail: str | None
    occurred_at: datetime
    correlation_id: str
