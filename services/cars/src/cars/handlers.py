"""Commands the cars service answers, and the events of other services it acts on."""

from __future__ import annotations

from cars.domain import CarRuleViolation
from cars.service import CarService
from chassis.messaging import Subscriptions
from chassis.uow import Tx
from contracts import Envelope
from contracts.bookings import BookingCancelled
from contracts.cars import (
    RELEASE_CAR_QUEUE,
    RESERVE_CAR_QUEUE,
    ReleaseCar,
    ReservationOutcome,
    ReservationReply,
    ReserveCar,
)


def subscribe(subscriptions: Subscriptions, cars: CarService) -> None:
    async def reserve(command: ReserveCar) -> ReservationReply:
        try:
            return await cars.reserve(command)
        except CarRuleViolation as exc:
            return ReservationReply(outcome=ReservationOutcome.INVALID, detail=str(exc))

    subscriptions.on_command(RESERVE_CAR_QUEUE, ReserveCar, reserve)
    subscriptions.on_command(RELEASE_CAR_QUEUE, ReleaseCar, cars.release)

    async def booking_cancelled(tx: Tx, event: BookingCancelled, envelope: Envelope) -> None:
        # Usually released already by the command; this makes sure even if that was lost.
        await cars.release_in(tx, envelope.tenant_id or "", event.booking_id)

    subscriptions.on_event("booking_cancelled", BookingCancelled, booking_cancelled)
