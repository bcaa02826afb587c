"""Use cases of the bookings service; what its events tell others; the ports it needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bookings.domain import Booking, BookingCancelled, BookingConfirmed, BookingRefused, KnownCar
from bookings.repository import BookingChanged, BookingRepository, KnownCars
from chassis.clock import Clock, utc_now
from chassis.errors import Conflict, NotFound, RuleViolation, Unavailable
from chassis.logging import get_logger
from chassis.messaging.subscriptions import TenantEventContext
from chassis.records import refused, told
from chassis.storage.unit_of_work import UnitOfWork
from chassis.timeframe import TimeFrame
from contracts import IntegrationEvent
from contracts import bookings as published
from contracts.cars import CarDeleted, CarRegistered, ReservationOutcome, ReservationReply
from contracts.roles import PlatformRole

log = get_logger(__name__)
# A pending booking this many reservation timeouts old was abandoned by whoever made it.
ABANDONED_AFTER_TIMEOUTS = 3
# Refusals of a reservation asked for too late (past its deadline, or after its release).
TOO_LATE = frozenset({ReservationOutcome.EXPIRED, ReservationOutcome.BOOKING_RELEASED})


class CarUnavailable(Conflict):
    """The car is not free for the time frame."""


class UnknownCar(RuleViolation):
    """No car with that id in the caller's tenant."""


class ReservationTimedOut(Unavailable):
    """Cars did not answer in time, or the booking waited too long for its reservation."""


class BookingNotFound(NotFound):
    pass


class CarsNotAnswering(Exception):
    """The cars service could not be asked, or did not answer in time."""


class CarReservations(Protocol):
    """The port to the cars service; either call raises CarsNotAnswering."""

    async def reserve(self, booking: Booking) -> ReservationReply: ...

    async def release(self, booking: Booking) -> None: ...


# Pending bookings (any tenant) requested before a moment: the abandoned-booking sweep's read.
PendingBookings = Callable[[datetime], Awaitable[list[Booking]]]


@dataclass(frozen=True)
class Booked:
    booking: Booking
    car: KnownCar | None  # as cars described it when it reserved it


class BookingsTransaction(Protocol):
    @property
    def bookings(self) -> BookingRepository: ...

    @property
    def known_cars(self) -> KnownCars: ...


class BookingService:
    def __init__(
        self,
        uow: UnitOfWork[BookingsTransaction],
        cars: CarReservations,
        pending: PendingBookings,
        reserve_timeout: float,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self._cars = cars
        self._pending = pending
        self._abandoned_after = timedelta(seconds=reserve_timeout * ABANDONED_AFTER_TIMEOUTS)
        self._clock = clock

    async def book(self, tenant_id: str, user_id: str, car_id: str, frame: TimeFrame) -> Booked:
        """Record the booking as pending, reserve the car for it, then confirm it.

        The pending record comes first so that a reservation whose booking never got
        confirmed (a crash, a timeout) is always found and released by `release_abandoned`.
        """
        booking = Booking.request(tenant_id, user_id, car_id, frame, self._clock())

        async def record(tx: BookingsTransaction) -> None:
            await tx.bookings.add(booking)

        await self._uow.run(record, tenant_id=tenant_id, actor_id=user_id)
        try:
            reply = await self._cars.reserve(booking)
        except CarsNotAnswering as exc:
            # The reservation may still have been taken just after we stopped waiting.
            await self._give_up(booking)
            raise ReservationTimedOut("cars did not answer; try again shortly") from exc
        if reply.outcome is not ReservationOutcome.RESERVED:
            # A refusal is final: nothing is reserved for the booking, nor ever will be.
            if reply.outcome in TOO_LATE:
                await self._discard(booking)
                raise ReservationTimedOut("cars answered too late; try again shortly")
            refusal: Exception = (
                UnknownCar(f"there is no car {car_id}")
                if reply.outcome is ReservationOutcome.UNKNOWN_CAR
                else CarUnavailable(reply.detail or "the car is not available then")
            )
            # Refused by a rule: the audit record goes with the discard, which commits
            # whatever the caller is answered.
            await self._discard(booking, refused=str(refusal))
            raise refusal

        # Confirmed as it was recorded: if the sweep gave it up meanwhile, it is gone and
        # saving it fails, so a confirmation never revives a booking whose car was released.
        booking.confirm()

        async def confirm(tx: BookingsTransaction) -> None:
            await tx.bookings.save(booking)

        try:
            await self._uow.run(confirm, tenant_id=tenant_id, actor_id=user_id)
        except BookingChanged as exc:
            await self._give_up(booking)
            raise ReservationTimedOut("the booking took too long; try again") from exc
        except Exception:
            await self._give_up(booking)
            raise
        described = reply.car
        if described is None:
            return Booked(booking, None)
        return Booked(
            booking, KnownCar(car_id, described.make, described.model, described.number_plate)
        )

    async def cancel(
        self, tenant_id: str, user_id: str, roles: frozenset[str], booking_id: str
    ) -> Booking:
        async def work(tx: BookingsTransaction) -> Booking:
            booking = await tx.bookings.get(booking_id)
            if booking is None:
                raise BookingNotFound(f"there is no booking {booking_id}")
            booking.cancel(user_id, PlatformRole.OPERATIONS in roles, self._clock())
            await tx.bookings.save(booking)
            return booking

        booking = await self._uow.run(work, tenant_id=tenant_id, actor_id=user_id)
        # Cars also releases on the cancellation event: the slot is freed even if this fails.
        await self._release(booking)
        return booking

    async def release_abandoned(self) -> int:
        """Release the cars of bookings left pending well past the reservation timeout."""
        abandoned = await self._pending(self._clock() - self._abandoned_after)
        for booking in abandoned:
            log.warning("booking.abandoned", booking_id=booking.id)
            await self._give_up(booking)
        return len(abandoned)

    async def car_registered(
        self, tx: BookingsTransaction, event: CarRegistered, _: TenantEventContext
    ) -> None:
        car = KnownCar(event.car_id, event.make, event.model, event.number_plate)
        await tx.known_cars.registered(car, self._clock())

    async def car_deleted(
        self, tx: BookingsTransaction, event: CarDeleted, context: TenantEventContext
    ) -> None:
        await tx.known_cars.deleted(event.car_id, context.occurred_at)

    async def _give_up(self, booking: Booking) -> None:
        """Release the car; the pending booking goes once that is confirmed, else it stays
        for `release_abandoned` to try again."""
        if await self._release(booking):
            await self._discard(booking)

    async def _release(self, booking: Booking) -> bool:
        """Whether cars confirmed the release; a release not confirmed is only logged."""
        try:
            await self._cars.release(booking)
        except CarsNotAnswering:
            log.warning("booking.release_not_confirmed", booking_id=booking.id)
            return False
        return True

    async def _discard(self, booking: Booking, refused: str | None = None) -> None:
        """Remove the booking if still pending; `refused` says why cars refused it."""

        async def work(tx: BookingsTransaction) -> None:
            pending = await tx.bookings.get(booking.id)
            if pending is not None and pending.is_pending:
                if refused is not None:
                    pending.refuse(refused)
                await tx.bookings.remove(pending)

        await self._uow.run(work, tenant_id=booking.tenant_id, actor_id=booking.user_id)


def integration_events(event: object) -> Iterator[IntegrationEvent]:
    """What the other services are told of each thing that happens to a booking, with its
    audit record and, for what people do with the product, its usage record."""
    match event:
        case BookingConfirmed(booking_id, car_id, frame):
            yield from told(
                published.BookingMade(
                    booking_id=booking_id, car_id=car_id, start_utc=frame.start, end_utc=frame.end
                ),
                target=f"booking:{booking_id}",
                usage={"minutes": int(frame.duration.total_seconds() // 60)},
            )
        case BookingCancelled(booking_id, car_id):
            yield from told(
                published.BookingCancelled(booking_id=booking_id, car_id=car_id),
                target=f"booking:{booking_id}",
                usage={},
            )
        case BookingRefused(booking_id, car_id, reason):
            # Nothing happened to tell the others of; the audit trail keeps the attempt.
            yield refused("bookings.booking_refused", target=f"car:{car_id}", detail=reason)
        case _:
            raise TypeError(f"no integration event for {event!r}")
