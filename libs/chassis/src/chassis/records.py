"""What a service publishes of one thing its callers did: the integration event the other
services are told, the audit record of it and, for a product action, its usage record.

A service's `integration_events` says it in one line per domain event:

    yield from told(published.CarRegistered(...), target=f"car:{car_id}", usage={"year": 2021})

The audit action is the event's routing key (`cars.car_registered`) and the usage event its
name (`car_registered`), so the three never drift apart. Who did it, for which tenant, when
and under which correlation id are the envelope's, set by the unit of work.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from contracts import IntegrationEvent
from contracts.audits import AuditOutcome, AuditRecorded
from contracts.usages import PropertyValue, UsageRecorded


def told(
    event: IntegrationEvent,
    *,
    target: str,
    usage: Mapping[str, PropertyValue] | None = None,
    detail: str | None = None,
) -> Iterator[IntegrationEvent]:
    """`event`, its audit record (done to `target`), and its usage record with `usage` as
    its properties when it is a product action (never personal data: they leave the
    platform for product analytics)."""
    yield event
    yield AuditRecorded(action=event.event_type, target=target, detail=detail)
    if usage is not None:
        yield UsageRecorded(event=event.event_type.split(".", 1)[1], properties=dict(usage))


def noted(action: str, *, target: str, detail: str | None = None) -> AuditRecorded:
    """The audit record of something done that tells no other service anything (a login)."""
    return AuditRecorded(action=action, target=target, detail=detail)


def refused(action: str, *, target: str, detail: str) -> AuditRecorded:
    """The audit record of something a rule refused (nothing else is published of it)."""
    return AuditRecorded(action=action, target=target, outcome=AuditOutcome.REFUSED, detail=detail)
