"""Commands the cars service answers for other services."""

from __future__ import annotations

from chassis.messaging import Subscriptions
from contracts.cars import (
    RELEASE_CAR_QUEUE,
    RESERVE_CAR_QUEUE,
    ReleaseCar,
    ReservationOutcome,
    ReservationReply,
    ReserveCar,
)

from cars.domain import CarRuleViolation
from cars.service import CarService


def subscribe(subscriptions: Subscriptions, cars: CarService) -> None:
    async def reserve(command: ReserveCar) -> ReservationReply:
        try:
            return await cars.reserve(command)
        except CarRuleViolation as exc:
            return ReservationReply(outcome=ReservationOutcome.INVALID, detail=str(exc))

    subscriptions.on_command(RESERVE_CAR_QUEUE, ReserveCar, reserve)
    subscriptions.on_command(RELEASE_CAR_QUEUE, ReleaseCar, cars.release)
