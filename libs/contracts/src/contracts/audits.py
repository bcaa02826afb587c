"""The audit trail's one event, published by every service for what its callers did. Who
(actor), for which tenant, when and under which correlation id are the envelope's own
fields; the event says what was done to what, and how it ended."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from contracts.envelope import IntegrationEvent


class AuditOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    # Tried and refused by a rule (a login with a wrong password, a car not available).
    REFUSED = "refused"
    FAILED = "failed"


class AuditRecorded(IntegrationEvent):
    event_type: ClassVar[str] = "platform.audit_recorded"

    # `<service>.<what happened>`, e.g. `cars.car_registered`.
    action: str = Field(min_length=3, max_length=100, pattern=r"^[a-z_]+\.[a-z_]+$")
    # `<kind>:<id>`, e.g. `car:5f0c...`.
    target: str = Field(min_length=1, max_length=200)
    outcome: AuditOutcome = AuditOutcome.SUCCEEDED
    detail: str | None = Field(default=None, max_length=1000)
