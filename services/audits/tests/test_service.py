"""The audits use case on the in-memory unit of work: what an audit event becomes."""

from __future__ import annotations

from datetime import UTC, datetime

from audits.domain import Outcome
from audits.service import AuditService
from contracts.audits import AuditOutcome, AuditRecorded


async def test_an_audit_event_is_kept_with_its_envelopes_who_when_and_correlation(
    audits: AuditService, uow
) -> None:
    before = datetime.now(UTC)
    event = AuditRecorded(
        action="bookings.booking_refused",
        target="car:c1",
        outcome=AuditOutcome.REFUSED,
        detail="taken from 10:00 to 12:00",
    )
    await uow.deliver(audits.audit_recorded, event, tenant_id="tenant-a", actor_id="user-a")
    [(key, entry)] = uow.state.entries.items()
    assert entry.id == key
    assert (entry.tenant_id, entry.actor_id) == ("tenant-a", "user-a")
    assert (entry.action, entry.target, entry.outcome, entry.detail) == (
        "bookings.booking_refused",
        "car:c1",
        Outcome.REFUSED,
        "taken from 10:00 to 12:00",
    )
    assert before <= entry.occurred_at <= datetime.now(UTC)
    assert entry.correlation_id
    assert uow.published == [], "audits tells nobody anything"


async def test_an_event_of_no_tenant_is_kept_as_such(audits: AuditService, uow) -> None:
    event = AuditRecorded(action="identity.password_reset_requested", target="user:u1")
    await uow.deliver(audits.audit_recorded, event, tenant_id=None, actor_id="u1")
    [entry] = uow.state.entries.values()
    assert (entry.tenant_id, entry.actor_id, entry.outcome) == (None, "u1", Outcome.SUCCEEDED)


async def test_each_event_is_its_own_entry(audits: AuditService, uow) -> None:
    event = AuditRecorded(action="cars.car_registered", target="car:c1")
    for _ in range(2):
        await uow.deliver(audits.audit_recorded, event, tenant_id="tenant-a", actor_id="u1")
    # Two events that say the same are two entries; one event twice is one (test_api).
    assert len(uow.state.entries) == 2
