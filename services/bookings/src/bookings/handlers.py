"""What the bookings service does with other services' events."""

from __future__ import annotations

from bookings.repository import BookingRepository
from chassis.messaging import Subscriptions
from chassis.uow import Tx
from contracts import Envelope
from contracts.cars import CarDeleted, CarRegistered


def subscribe(subscriptions: Subscriptions, repo: BookingRepository) -> None:
    async def car_registered(tx: Tx, event: CarRegistered, envelope: Envelope) -> None:
        await repo.car_registered(envelope.tenant_id or "", event.model_dump(), tx.session)

    async def car_deleted(tx: Tx, event: CarDeleted, envelope: Envelope) -> None:
        await repo.car_deleted(
            envelope.tenant_id or "", event.car_id, envelope.occurred_at, tx.session
        )

    subscriptions.on_event("car_registered", CarRegistered, car_registered)
    subscriptions.on_event("car_deleted", CarDeleted, car_deleted)
