"""Cars and their unavailability: the rules, with no I/O.

A car is unavailable during slots, each with a cause. Slots of a car never overlap, whatever
their causes, so "is the car free from A to B" is "does any slot overlap A..B". The car is
the aggregate: every slot is taken and given back through it, and it records what happened.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.aggregate import Aggregate
from chassis.errors import Conflict, RuleViolation
from chassis.timeframe import TimeFrame

MIN_YEAR = 1900
PLATE = re.compile(r"^[A-Z0-9][A-Z0-9 -]{0,13}[A-Z0-9]$|^[A-Z0-9]$")
JURISDICTION = re.compile(r"^[A-Z]{2}$")
MAX_SLOT = timedelta(days=366)
# How long a released booking is remembered, so that a request to reserve it is refused.
# Such a request commits within about MongoDB's transaction lifetime limit (60 s by default)
# of its deadline, or not at all, and its deadline is seconds after it was sent, before the
# release (sent once its sender gave up or was answered): a day is ample, even for clocks
# that disagree.
RELEASE_REMEMBERED = timedelta(days=1)


class CarRuleViolation(RuleViolation):
    pass


class SlotConflict(Conflict):
    """The car is already unavailable for part of the time frame."""


class CarInUse(Conflict):
    """The car has reservations that have not ended, so it cannot be deleted."""


class ReservationExpired(Conflict):
    """Asked for after its deadline: its sender has stopped waiting and gives the booking up."""


class BookingReleased(Conflict):
    """The booking was released before its reservation was asked for: the release overtook
    the request, and the booking it was for is given up."""


class Cause(StrEnum):
    RESERVATION = "reservation"
    MAINTENANCE = "maintenance"
    OFFLINE = "offline"


@dataclass(frozen=True)
class UnavailabilitySlot:
    id: str
    car_id: str
    tenant_id: str
    frame: TimeFrame
    cause: Cause
    booking_id: str | None = None


@dataclass(frozen=True)
class CarSpec:
    make: str
    model: str
    year: int
    jurisdiction: str
    number_plate: str

    def normalised(self, now: datetime) -> CarSpec:
        """The spec as it is kept (trimmed, upper case, plate spaces collapsed), if valid."""
        make, model = self.make.strip(), self.model.strip()
        if not make or not model:
            raise CarRuleViolation("make and model are required")
        if not MIN_YEAR <= self.year <= now.year + 1:
            raise CarRuleViolation(f"year must be between {MIN_YEAR} and {now.year + 1}")
        jurisdiction = self.jurisdiction.strip().upper()
        if not JURISDICTION.match(jurisdiction):
            raise CarRuleViolation("jurisdiction must be an ISO 3166-1 alpha-2 country code")
        plate = " ".join(self.number_plate.upper().split())
        if not PLATE.match(plate):
            raise CarRuleViolation(
                "number plate must be 1 to 15 letters, digits, spaces or hyphens"
            )
        return CarSpec(make, model, self.year, jurisdiction, plate)


# --- what happens to a car (domain events) ----------------------------------------------------


@dataclass(frozen=True)
class CarRegistered:
    car_id: str
    spec: CarSpec


@dataclass(frozen=True)
class CarDeleted:
    car_id: str


@dataclass(frozen=True)
class TakenOutOfUse:
    """Maintenance scheduled or taken offline, as the slot's cause says."""

    slot: UnavailabilitySlot


@dataclass(frozen=True)
class ReservationMade:
    booking_id: str
    slot: UnavailabilitySlot


@dataclass(frozen=True)
class ReservationReleased:
    booking_id: str
    slot: UnavailabilitySlot


# --- the aggregate ----------------------------------------------------------------------------


@dataclass
class Car(Aggregate):
    """`slots` are those loaded with the car for a change: every slot that has not ended,
    which is every slot a new one could clash with. A car read only to be shown has none.
    `released`: the bookings released lately (whether the car held them or not), each with
    when it is forgotten; none of them is reserved again."""

    id: str
    tenant_id: str
    spec: CarSpec
    registered_at: datetime
    slots: list[UnavailabilitySlot] = field(default_factory=list)
    released: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def register(cls, tenant_id: str, spec: CarSpec, now: datetime) -> Car:
        car = cls(uuid.uuid4().hex, tenant_id, spec.normalised(now), now)
        car.record(CarRegistered(car.id, car.spec))
        return car

    def take_out_of_use(self, frame: TimeFrame, cause: Cause, now: datetime) -> UnavailabilitySlot:
        """Schedule maintenance or take the car offline for `frame`."""
        if cause is Cause.RESERVATION:
            raise CarRuleViolation("a reservation is made for a booking")
        slot = self._take(frame, cause, now, None)
        self.record(TakenOutOfUse(slot))
        return slot

    def reserve(
        self,
        booking_id: str,
        frame: TimeFrame,
        now: datetime,
        *,
        deadline: datetime | None = None,
    ) -> UnavailabilitySlot:
        """Reserve the car for a booking; reserving again for the same booking is the same.

        A booking not holding the car yet is refused once it has been released, and once
        the request's `deadline` has passed: either way its booking is, or is being, given
        up, and a reservation made now would be held for nobody.
        """
        held = self.reservation_of(booking_id)
        if held is not None:
            return held
        if self.released.get(booking_id, now) > now:
            raise BookingReleased(f"booking {booking_id} was released; it is not reserved again")
        if deadline is not None and now >= deadline:
            raise ReservationExpired(f"the request to reserve for booking {booking_id} expired")
        slot = self._take(frame, Cause.RESERVATION, now, booking_id)
        self.record(ReservationMade(booking_id, slot))
        return slot

    def release(self, booking_id: str, now: datetime) -> UnavailabilitySlot | None:
        """Give back the booking's reservation; None when it holds none (any more, or yet:
        the booking is remembered either way, so a request to reserve it is refused)."""
        self.released = {b: until for b, until in self.released.items() if until > now}
        self.released[booking_id] = now + RELEASE_REMEMBERED
        held = self.reservation_of(booking_id)
        if held is not None:
            self.slots.remove(held)
            self.record(ReservationReleased(booking_id, held))
        return held

    def reservation_of(self, booking_id: str) -> UnavailabilitySlot | None:
        return next((s for s in self.slots if s.booking_id == booking_id), None)

    def delete(self, now: datetime) -> None:
        if any(s.cause is Cause.RESERVATION and s.frame.end > now for s in self.slots):
            raise CarInUse("the car has reservations that have not ended yet")
        self.record(CarDeleted(self.id))

    def _take(
        self, frame: TimeFrame, cause: Cause, now: datetime, booking_id: str | None
    ) -> UnavailabilitySlot:
        frame.require_not_past(now)
        if frame.duration > MAX_SLOT:
            raise CarRuleViolation("a time frame may not be longer than a year")
        clash = next((s for s in self.slots if s.frame.overlaps(frame)), None)
        if clash:
            raise SlotConflict(
                f"the car is unavailable ({clash.cause}) from "
                f"{clash.frame.start.isoformat()} to {clash.frame.end.isoformat()}"
            )
        slot = UnavailabilitySlot(
            uuid.uuid4().hex, self.id, self.tenant_id, frame, cause, booking_id
        )
        self.slots.append(slot)
        return slot
