"""Car events and the reserve/release commands the cars service answers."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict

from contracts.commands import Command
from contracts.envelope import DomainEvent


class CarRegistered(DomainEvent):
    event_type: ClassVar[str] = "cars.car_registered"

    car_id: str
    make: str
    model: str
    year: int
    jurisdiction: str
    number_plate: str


class CarDeleted(DomainEvent):
    event_type: ClassVar[str] = "cars.car_deleted"

    car_id: str


class CarMaintenanceScheduled(DomainEvent):
    event_type: ClassVar[str] = "cars.car_maintenance_scheduled"

    car_id: str
    slot_id: str
    from_utc: AwareDatetime
    to_utc: AwareDatetime


class CarTakenOffline(DomainEvent):
    event_type: ClassVar[str] = "cars.car_taken_offline"

    car_id: str
    slot_id: str
    from_utc: AwareDatetime
    to_utc: AwareDatetime


class CarReserved(DomainEvent):
    event_type: ClassVar[str] = "cars.car_reserved"

    car_id: str
    slot_id: str
    booking_id: str
    from_utc: AwareDatetime
    to_utc: AwareDatetime


class CarReleased(DomainEvent):
    event_type: ClassVar[str] = "cars.car_released"

    car_id: str
    booking_id: str


RESERVE_CAR_QUEUE = "cars.reserve"
RELEASE_CAR_QUEUE = "cars.release"


class ReservationOutcome(StrEnum):
    RESERVED = "reserved"
    RELEASED = "released"
    UNAVAILABLE = "unavailable"
    UNKNOWN_CAR = "unknown_car"
    INVALID = "invalid"


class ReservationReply(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    outcome: ReservationOutcome
    detail: str | None = None


class ReserveCar(Command):
    queue: ClassVar[str] = RESERVE_CAR_QUEUE
    reply: ClassVar[type[BaseModel]] = ReservationReply

    tenant_id: str
    car_id: str
    booking_id: str
    from_utc: AwareDatetime
    to_utc: AwareDatetime


class ReleaseCar(Command):
    queue: ClassVar[str] = RELEASE_CAR_QUEUE
    reply: ClassVar[type[BaseModel]] = ReservationReply

    tenant_id: str
    car_id: str
    booking_id: str
