"""Use cases of the cars service, each one unit of work; and what its events tell others."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Protocol

from cars.domain import (
    BookingReleased,
    Car,
    CarDeleted,
    CarRegistered,
    CarSpec,
    Cause,
    ReservationExpired,
    ReservationMade,
    ReservationReleased,
    SlotConflict,
    TakenOutOfUse,
    UnavailabilitySlot,
)
from cars.repository import CarRepository
from chassis.clock import Clock, utc_now
from chassis.errors import NotFound, RuleViolation
from chassis.messaging.subscriptions import TenantEventContext
from chassis.records import told
from chassis.storage.unit_of_work import UnitOfWork
from chassis.timeframe import TimeFrame
from contracts import IntegrationEvent
from contracts import cars as published
from contracts.bookings import BookingCancelled
from contracts.cars import (
    ReleaseCar,
    ReleaseOutcome,
    ReleaseReply,
    ReservationOutcome,
    ReservationReply,
    ReserveCar,
    ReservedCar,
)


class CarNotFound(NotFound):
    pass


class CarsTransaction(Protocol):
    @property
    def cars(self) -> CarRepository: ...


class CarService:
    def __init__(self, uow: UnitOfWork[CarsTransaction], clock: Clock = utc_now) -> None:
        self._uow = uow
        self._clock = clock

    async def register(self, tenant_id: str, actor_id: str, spec: CarSpec) -> Car:
        car = Car.register(tenant_id, spec, self._clock())

        async def work(tx: CarsTransaction) -> Car:
            await tx.cars.add(car)
            return car

        return await self._uow.run(work, tenant_id=tenant_id, actor_id=actor_id)

    async def delete(self, tenant_id: str, actor_id: str, car_id: str) -> None:
        async def work(tx: CarsTransaction) -> None:
            now = self._clock()
            car = await _get(tx, car_id, now)
            car.delete(now)
            await tx.cars.remove(car)

        await self._uow.run(work, tenant_id=tenant_id, actor_id=actor_id)

    async def take_out_of_use(
        self, tenant_id: str, actor_id: str, car_id: str, frame: TimeFrame, cause: Cause
    ) -> UnavailabilitySlot:
        """Schedule maintenance or take the car offline for `frame`."""

        async def work(tx: CarsTransaction) -> UnavailabilitySlot:
            now = self._clock()
            car = await _get(tx, car_id, now)
            slot = car.take_out_of_use(frame, cause, now)
            await tx.cars.save(car)
            return slot

        return await self._uow.run(work, tenant_id=tenant_id, actor_id=actor_id)

    async def reserve(self, command: ReserveCar) -> ReservationReply:
        """Reserve for a booking; asking again for the same booking gives the same answer.

        Refused, inside the transaction, once the booking was released or the command's
        deadline has passed. The clock is read before the transaction's first step, on every
        attempt; the commit may still land after the deadline, which is why a release writes
        the car too (`_release`): of a release and a reservation of one car, the one that
        commits second has seen what the first did.
        """

        async def work(tx: CarsTransaction) -> ReservationReply:
            now = self._clock()
            car = await tx.cars.get(command.car_id, now)
            if car is None:
                return ReservationReply(outcome=ReservationOutcome.UNKNOWN_CAR)
            try:
                car.reserve(
                    command.booking_id,
                    TimeFrame(command.from_utc, command.to_utc),
                    now,
                    deadline=command.deadline,
                )
            except SlotConflict as exc:
                return ReservationReply(outcome=ReservationOutcome.UNAVAILABLE, detail=str(exc))
            except ReservationExpired as exc:
                return ReservationReply(outcome=ReservationOutcome.EXPIRED, detail=str(exc))
            except BookingReleased as exc:
                return ReservationReply(
                    outcome=ReservationOutcome.BOOKING_RELEASED, detail=str(exc)
                )
            await tx.cars.save(car)
            spec = car.spec
            return ReservationReply(
                outcome=ReservationOutcome.RESERVED,
                car=ReservedCar(make=spec.make, model=spec.model, number_plate=spec.number_plate),
            )

        try:
            return await self._uow.run(work, tenant_id=command.tenant_id)
        except RuleViolation as exc:
            return ReservationReply(outcome=ReservationOutcome.INVALID, detail=str(exc))

    async def release(self, command: ReleaseCar) -> ReleaseReply:
        """Free a booking's reservation; one that is gone already needs nothing."""

        async def work(tx: CarsTransaction) -> ReleaseReply:
            released = await self._release(tx, command.car_id, command.booking_id)
            return ReleaseReply(
                outcome=ReleaseOutcome.RELEASED if released else ReleaseOutcome.NOT_RESERVED
            )

        return await self._uow.run(work, tenant_id=command.tenant_id)

    async def booking_cancelled(
        self, tx: CarsTransaction, event: BookingCancelled, _: TenantEventContext
    ) -> None:
        # Usually released by the command already; this makes sure even if that was lost.
        await self._release(tx, event.car_id, event.booking_id)

    async def _release(self, tx: CarsTransaction, car_id: str, booking_id: str) -> bool:
        """Free the booking's reservation; the car remembers the booking as released.

        The booking's car is got, which writes it, even when it holds nothing for the
        booking: a reservation of that car being made meanwhile gets it too, and MongoDB
        lets only one of two transactions writing a document commit, retrying the other
        afterwards. So either the reservation commits first and is released here, or this
        commits first and the reservation, retried, finds the booking released.
        """
        now = self._clock()
        car = await tx.cars.holding(booking_id, now) or await tx.cars.get(car_id, now)
        if car is None:
            return False  # no car of the tenant's: nothing is, or can be, reserved on it
        freed = car.release(booking_id, now)
        await tx.cars.save(car)
        return freed is not None


async def _get(tx: CarsTransaction, car_id: str, now: datetime) -> Car:
    car = await tx.cars.get(car_id, now)
    if car is None:
        raise CarNotFound(f"there is no car {car_id}")
    return car


def integration_events(event: object) -> Iterator[IntegrationEvent]:
    """What the other services are told of each thing that happens to a car, with its audit
    record and, for what people do with the product, its usage record."""
    match event:
        case CarRegistered(car_id, spec):
            yield from told(
                published.CarRegistered(car_id=car_id, **asdict(spec)),
                target=f"car:{car_id}",
                usage={"make": spec.make, "model": spec.model, "year": spec.year},
            )
        case CarDeleted(car_id):
            yield from told(published.CarDeleted(car_id=car_id), target=f"car:{car_id}", usage={})
        case ReservationMade(booking_id, slot):
            # Bookings records the booking as the product action; this is its consequence.
            yield from told(
                published.CarReserved(
                    car_id=slot.car_id,
                    slot_id=slot.id,
                    booking_id=booking_id,
                    from_utc=slot.frame.start,
                    to_utc=slot.frame.end,
                ),
                target=f"car:{slot.car_id}",
                detail=f"for booking {booking_id}",
            )
        case TakenOutOfUse(slot):
            kind = (
                published.CarMaintenanceScheduled
                if slot.cause is Cause.MAINTENANCE
                else published.CarTakenOffline
            )
            yield from told(
                kind(
                    car_id=slot.car_id,
                    slot_id=slot.id,
                    from_utc=slot.frame.start,
                    to_utc=slot.frame.end,
                ),
                target=f"car:{slot.car_id}",
                usage={"hours": round(slot.frame.duration.total_seconds() / 3600, 2)},
            )
        case ReservationReleased(booking_id, slot):
            yield from told(
                published.CarReleased(car_id=slot.car_id, booking_id=booking_id),
                target=f"car:{slot.car_id}",
                detail=f"for booking {booking_id}",
            )
        case _:
            raise TypeError(f"no integration event for {event!r}")
