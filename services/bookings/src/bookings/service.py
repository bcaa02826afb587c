"""Use cases of the bookings service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bookings.domain import Booking
from bookings.repository import BookingRepository
from chassis.clock import Clock, utc_now
from chassis.commands import CommandClient, CommandUnavailable
from chassis.logging import get_logger
from chassis.uow import Tx, UnitOfWork
from contracts.bookings import BookingCancelled, BookingMade
from contracts.cars import (
    RELEASE_CAR_QUEUE,
    RESERVE_CAR_QUEUE,
    ReleaseCar,
    ReservationOutcome,
    ReservationReply,
    ReserveCar,
)

log = get_logger(__name__)
OPERATIONS_ROLE = "operations"
# A pending booking this many reservation timeouts old was abandoned by whoever made it.
ABANDONED_AFTER_TIMEOUTS = 3


class CarUnavailable(Exception):
    """The car is not free for the time frame (answered as 409)."""


class UnknownCar(Exception):
    """No car with that id in the caller's tenant (answered as 422)."""


class ReservationsUnavailable(Exception):
    """Cars did not answer in time (answered as 503)."""


class BookingNotFound(Exception):
    pass


class BookingService:
    def __init__(
        self,
        uow: UnitOfWork,
        repo: BookingRepository,
        cars: CommandClient,
        reserve_timeout: float,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self._repo = repo
        self._cars = cars
        self._timeout = reserve_timeout
        self._clock = clock

    async def book(
        self, tenant_id: str, user_id: str, car_id: str, start: datetime, end: datetime
    ) -> Booking:
        """Record the booking as pending, reserve the car for it, then confirm it.

        The pending record comes first so that a reservation whose booking never got
        confirmed (a crash, a timeout) is always found and released by `release_abandoned`.
        """
        booking = Booking.request(
            tenant_id, user_id, car_id, start.astimezone(UTC), end.astimezone(UTC), self._clock()
        )
        await self._repo.add_pending(booking)
        reply = await self._reserve(booking)
        if reply.outcome is not ReservationOutcome.RESERVED:
            await self._repo.discard_pending(booking.id)
            if reply.outcome is ReservationOutcome.UNKNOWN_CAR:
                raise UnknownCar(f"there is no car {car_id}")
            raise CarUnavailable(reply.detail or "the car is not available then")

        async def work(tx: Tx) -> None:
            booking.confirm()
            if not await self._repo.confirm(booking, tx.session):
                raise ReservationsUnavailable("the booking took too long; try again")
            tx.publish(
                BookingMade(
                    booking_id=booking.id,
                    car_id=car_id,
                    start_utc=booking.start,
                    end_utc=booking.end,
                ),
                tenant_id=tenant_id,
                actor_id=user_id,
            )

        try:
            await self._uow.run(work)
        except Exception:
            await self._give_up(booking)
            raise
        return booking

    async def release_abandoned(self) -> int:
        """Release the cars of bookings left pending well past the reservation timeout."""
        cutoff = self._clock() - timedelta(seconds=self._timeout * ABANDONED_AFTER_TIMEOUTS)
        abandoned = await self._repo.pending_since_before(cutoff)
        for booking in abandoned:
            log.warning("booking.abandoned", booking_id=booking.id)
            await self._give_up(booking)
        return len(abandoned)

    async def cancel(
        self, tenant_id: str, user_id: str, roles: frozenset[str], booking_id: str
    ) -> Booking:
        async def work(tx: Tx) -> Booking:
            booking = await self._repo.get(tenant_id, booking_id, tx.session)
            if booking is None:
                raise BookingNotFound(booking_id)
            booking.cancel(user_id, OPERATIONS_ROLE in roles, self._clock())
            await self._repo.save_cancellation(booking, tx.session)
            # Cars also releases on this event: the slot is freed even if the command is lost.
            tx.publish(
                BookingCancelled(booking_id=booking.id, car_id=booking.car_id),
                tenant_id=tenant_id,
                actor_id=user_id,
            )
            return booking

        booking = await self._uow.run(work)
        await self._release(booking)
        return booking

    async def in_frame(
        self, tenant_id: str, start: datetime, end: datetime, limit: int, offset: int
    ) -> tuple[list[Booking], dict[str, dict[str, Any]]]:
        """Bookings overlapping the frame, and what is known of their cars."""
        found = await self._repo.overlapping(tenant_id, start, end, limit, offset)
        return found, await self.cars_of(tenant_id, found)

    async def cars_of(self, tenant_id: str, bookings: list[Booking]) -> dict[str, dict[str, Any]]:
        """What the car events told this service of the bookings' cars, by car id."""
        return await self._repo.cars(tenant_id, {b.car_id for b in bookings})

    async def _reserve(self, booking: Booking) -> ReservationReply:
        command = ReserveCar(
            tenant_id=booking.tenant_id,
            car_id=booking.car_id,
            booking_id=booking.id,
            from_utc=booking.start,
            to_utc=booking.end,
        )
        try:
            return await self._cars.send(
                RESERVE_CAR_QUEUE, command, ReservationReply, self._timeout
            )
        except CommandUnavailable as exc:
            # The reservation may still have been taken just after we stopped waiting.
            await self._give_up(booking)
            raise ReservationsUnavailable("cars did not answer; try again shortly") from exc

    async def _give_up(self, booking: Booking) -> None:
        """Release the car; the pending booking goes once that is confirmed, else it stays
        for `release_abandoned` to try again."""
        if await self._release(booking):
            await self._repo.discard_pending(booking.id)

    async def _release(self, booking: Booking) -> bool:
        command = ReleaseCar(
            tenant_id=booking.tenant_id, car_id=booking.car_id, booking_id=booking.id
        )
        try:
            await self._cars.send(RELEASE_CAR_QUEUE, command, ReservationReply, self._timeout)
        except CommandUnavailable:
            log.warning("booking.release_not_confirmed", booking_id=booking.id)
            return False
        return True
