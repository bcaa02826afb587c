"""Car events and the reserve/release commands the cars service answers."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict

from contracts.commands import Command
from contracts.envelope import TenantEvent


class CarRegistered(TenantEvent):
    event_type: ClassVar[str] = "cars.car_registered"

    car_id: str
    make: str
    model: str
    year: int
    jurisdiction: str
    number_plate: str


class CarDeleted(TenantEvent):
    event_type: ClassVar[str] = "cars.car_deleted"

    car_id: str


class CarMaintenanceScheduled(TenantEvent):
    event_type: ClassVar[str] = "cars.car_maintenance_scheduled"

    car_id: str
    slot_id: str
    from_utc: AwareDatetime
    to_utc: AwareDatetime


class CarTakenOffline(TenantEvent):
    event_type: ClassVar[str] = "cars.car_taken_offline"

    car_id: str
    slot_id: str
    from_utc: AwareDatetime
    to_utc: AwareDatetime


class CarReserved(TenantEvent):
    event_type: ClassVar[str] = "cars.car_reserved"

    car_id: str
    slot_id: str
    booking_id: str
    from_utc: AwareDatetime
    to_utc: AwareDatetime


class CarReleased(TenantEvent):
    event_type: ClassVar[str] = "cars.car_released"

    car_id: str
    booking_id: str


class ReservationOutcome(StrEnum):
    RESERVED = "reserved"
    UNAVAILABLE = "unavailable"
    UNKNOWN_CAR = "unknown_car"
    INVALID = "invalid"
    # Handled after the command's deadline: nothing is reserved, nor ever will be for it.
    EXPIRED = "expired"
    # The booking was released before: its release overtook this request; nothing reserved.
    BOOKING_RELEASED = "booking_released"


class ReservedCar(BaseModel):
    """The car a reservation holds, as the booking shows it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    make: str
    model: str
    number_plate: str


class ReservationReply(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    outcome: ReservationOutcome
    detail: str | None = None
    # With RESERVED: the booker sees the car without asking anyone again.
    car: ReservedCar | None = None


class ReserveCar(Command[ReservationReply]):
    """Reserve the car for a booking; asking again for the same booking answers the same.
    Refused once its deadline has passed, or once the booking has been released."""

    queue: ClassVar[str] = "cars.reserve"

    tenant_id: str
    car_id: str
    booking_id: str
    from_utc: AwareDatetime
    to_utc: AwareDatetime


class ReleaseOutcome(StrEnum):
    RELEASED = "released"
    # The booking held no reservation (never made, or released already): nothing to do.
    NOT_RESERVED = "not_reserved"


class ReleaseReply(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    outcome: ReleaseOutcome


class ReleaseCar(Command[ReleaseReply]):
    """Free the booking's reservation, if it holds one; either way the booking is never
    reserved afterwards (a reserve still on its way is refused)."""

    queue: ClassVar[str] = "cars.release"

    tenant_id: str
    car_id: str
    booking_id: str
