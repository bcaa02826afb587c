"""What a service publishes of one thing its callers did: event, audit record, usage record."""

from __future__ import annotations

from chassis.records import refused, told
from contracts.audits import AuditOutcome, AuditRecorded
from contracts.cars import CarDeleted
from contracts.usages import UsageRecorded


def test_the_audit_action_and_usage_event_are_named_after_the_event() -> None:
    event = CarDeleted(car_id="c1")
    assert list(told(event, target="car:c1", usage={"seats": 4})) == [
        event,
        AuditRecorded(action="cars.car_deleted", target="car:c1"),
        UsageRecorded(event="car_deleted", properties={"seats": 4}),
    ]


def test_no_usage_record_unless_it_is_a_product_action() -> None:
    event = CarDeleted(car_id="c1")
    assert list(told(event, target="car:c1", detail="why")) == [
        event,
        AuditRecorded(action="cars.car_deleted", target="car:c1", detail="why"),
    ]


def test_a_refusal_is_only_audited() -> None:
    assert refused("bookings.booking_refused", target="car:c1", detail="taken") == AuditRecorded(
        action="bookings.booking_refused",
        target="car:c1",
        outcome=AuditOutcome.REFUSED,
        detail="taken",
    )
