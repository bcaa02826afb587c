"""The cars service as bookings reaches it: reserve and release commands over RabbitMQ."""

from __future__ import annotations

from bookings.domain import Booking
from bookings.service import CarsNotAnswering
from chassis.messaging.commands import CommandBus, CommandUnavailable
from contracts.cars import ReleaseCar, ReservationReply, ReserveCar


class CarsOverCommands:
    """Each command carries the end of `timeout` as its deadline (the bus sets it): a
    reservation cars gets to after bookings stopped waiting is refused, not made."""

    def __init__(self, commands: CommandBus, timeout: float) -> None:
        self._commands = commands
        self._timeout = timeout

    async def reserve(self, booking: Booking) -> ReservationReply:
        command = ReserveCar(
            tenant_id=booking.tenant_id,
            car_id=booking.car_id,
            booking_id=booking.id,
            from_utc=booking.frame.start,
            to_utc=booking.frame.end,
        )
        try:
            return await self._commands.send(command, self._timeout)
        except CommandUnavailable as exc:
            raise CarsNotAnswering(str(exc)) from exc

    async def release(self, booking: Booking) -> None:
        command = ReleaseCar(
            tenant_id=booking.tenant_id, car_id=booking.car_id, booking_id=booking.id
        )
        try:
            await self._commands.send(command, self._timeout)
        except CommandUnavailable as exc:
            raise CarsNotAnswering(str(exc)) from exc
