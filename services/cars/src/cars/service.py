"""Use cases of the cars service: each one a transaction that also records its events."""

from __future__ import annotations

from datetime import datetime

from cars.domain import Car, CarSpec, Cause, SlotConflict, TimeFrame, UnavailabilitySlot
from cars.repository import CarRepository
from chassis.clock import Clock, utc_now
from chassis.uow import Tx, UnitOfWork
from contracts.cars import (
    CarDeleted,
    CarMaintenanceScheduled,
    CarRegistered,
    CarReleased,
    CarReserved,
    CarTakenOffline,
    ReleaseCar,
    ReservationOutcome,
    ReservationReply,
    ReserveCar,
)


class CarNotFound(Exception):
    pass


class CarService:
    def __init__(self, uow: UnitOfWork, repo: CarRepository, clock: Clock = utc_now) -> None:
        self._uow = uow
        self._repo = repo
        self._clock = clock

    async def register(
        self,
        tenant_id: str,
        actor_id: str,
        make: str,
        model: str,
        year: int,
        jurisdiction: str,
        number_plate: str,
    ) -> Car:
        now = self._clock()
        car = Car.register(
            tenant_id, CarSpec.normalised(make, model, year, jurisdiction, number_plate, now), now
        )

        async def work(tx: Tx) -> None:
            await self._repo.add(car, tx.session)
            spec = car.spec
            tx.publish(
                CarRegistered(
                    car_id=car.id,
                    make=spec.make,
                    model=spec.model,
                    year=spec.year,
                    jurisdiction=spec.jurisdiction,
                    number_plate=spec.number_plate,
                ),
                tenant_id=tenant_id,
                actor_id=actor_id,
            )

        await self._uow.run(work)
        return car

    async def delete(self, tenant_id: str, actor_id: str, car_id: str) -> None:
        async def work(tx: Tx) -> None:
            now = self._clock()
            car = await self._locked(tx, tenant_id, car_id, now)
            car.ensure_deletable(now)
            await self._repo.delete(car, tx.session)
            tx.publish(CarDeleted(car_id=car.id), tenant_id=tenant_id, actor_id=actor_id)

        await self._uow.run(work)

    async def make_unavailable(
        self, tenant_id: str, actor_id: str, car_id: str, frame: TimeFrame, cause: Cause
    ) -> UnavailabilitySlot:
        """Schedule maintenance or take the car offline for `frame`."""

        async def work(tx: Tx) -> UnavailabilitySlot:
            now = self._clock()
            car = await self._locked(tx, tenant_id, car_id, now)
            slot = car.make_unavailable(frame, cause, now)
            await self._repo.add_slot(slot, tx.session)
            event = CarMaintenanceScheduled if cause is Cause.MAINTENANCE else CarTakenOffline
            tx.publish(
                event(car_id=car.id, slot_id=slot.id, from_utc=frame.start, to_utc=frame.end),
                tenant_id=tenant_id,
                actor_id=actor_id,
            )
            return slot

        return await self._uow.run(work)

    async def reserve(self, command: ReserveCar) -> ReservationReply:
        """Reserve for a booking; asking again for the same booking gives the same answer."""
        frame = TimeFrame.of(command.from_utc, command.to_utc)

        async def work(tx: Tx) -> ReservationReply:
            now = self._clock()
            car = await self._repo.lock(command.tenant_id, command.car_id, tx.session, now)
            if car is None:
                return ReservationReply(outcome=ReservationOutcome.UNKNOWN_CAR)
            existing = await self._repo.reservation(command.booking_id, tx.session)
            if existing is not None:
                return ReservationReply(outcome=ReservationOutcome.RESERVED)
            try:
                slot = car.make_unavailable(frame, Cause.RESERVATION, now, command.booking_id)
            except SlotConflict as exc:
                return ReservationReply(outcome=ReservationOutcome.UNAVAILABLE, detail=str(exc))
            await self._repo.add_slot(slot, tx.session)
            tx.publish(
                CarReserved(
                    car_id=car.id,
                    slot_id=slot.id,
                    booking_id=command.booking_id,
                    from_utc=frame.start,
                    to_utc=frame.end,
                ),
                tenant_id=command.tenant_id,
                actor_id=None,
            )
            return ReservationReply(outcome=ReservationOutcome.RESERVED)

        return await self._uow.run(work)

    async def release(self, command: ReleaseCar) -> ReservationReply:
        """Free a booking's reservation; releasing one that is gone already is fine."""

        async def work(tx: Tx) -> ReservationReply:
            await self.release_in(tx, command.tenant_id, command.booking_id)
            return ReservationReply(outcome=ReservationOutcome.RELEASED)

        return await self._uow.run(work)

    async def release_in(self, tx: Tx, tenant_id: str, booking_id: str) -> None:
        slot = await self._repo.reservation(booking_id, tx.session)
        if slot is None or slot.tenant_id != tenant_id:
            return
        await self._repo.remove_slot(slot.id, tx.session)
        tx.publish(
            CarReleased(car_id=slot.car_id, booking_id=booking_id),
            tenant_id=tenant_id,
            actor_id=None,
        )

    async def get(self, tenant_id: str, car_id: str) -> Car:
        car = await self._repo.get(tenant_id, car_id)
        if car is None:
            raise CarNotFound(car_id)
        return car

    async def list_all(self, tenant_id: str, limit: int, offset: int) -> list[Car]:
        return await self._repo.find(tenant_id, limit, offset)

    async def available(
        self, tenant_id: str, frame: TimeFrame, limit: int, offset: int
    ) -> list[Car]:
        busy = await self._repo.unavailable_car_ids(tenant_id, frame)
        return await self._repo.find(tenant_id, limit, offset, exclude=busy)

    async def unavailabilities(
        self, tenant_id: str, car_id: str, limit: int, offset: int
    ) -> list[UnavailabilitySlot]:
        await self.get(tenant_id, car_id)
        return await self._repo.slots(tenant_id, car_id, limit, offset)

    async def _locked(self, tx: Tx, tenant_id: str, car_id: str, now: datetime) -> Car:
        car = await self._repo.lock(tenant_id, car_id, tx.session, now)
        if car is None:
            raise CarNotFound(car_id)
        return car
