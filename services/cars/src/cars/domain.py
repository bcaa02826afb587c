"""Cars and their unavailability: the rules, with no I/O.

A car is unavailable during slots, each with a cause. Slots of a car never overlap, whatever
their causes, so "is the car free from A to B" is "does any slot overlap A..B".
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

MIN_YEAR = 1900
PLATE = re.compile(r"^[A-Z0-9][A-Z0-9 -]{0,13}[A-Z0-9]$|^[A-Z0-9]$")
JURISDICTION = re.compile(r"^[A-Z]{2}$")
# A slot may start a little before "now" as seen here: clocks of callers drift.
CLOCK_SKEW = timedelta(minutes=1)
MAX_SLOT = timedelta(days=366)


class CarRuleViolation(ValueError):
    """The request breaks a rule of the domain (answered as 422)."""


class SlotConflict(Exception):
    """The car is already unavailable for part of the time frame (answered as 409)."""


class CarInUse(Exception):
    """The car has future reservations and cannot be deleted (answered as 409)."""


class Cause(StrEnum):
    RESERVATION = "reservation"
    MAINTENANCE = "maintenance"
    OFFLINE = "offline"


@dataclass(frozen=True)
class TimeFrame:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise CarRuleViolation("times must carry a UTC offset")
        if self.start >= self.end:
            raise CarRuleViolation("the start must be before the end")

    @classmethod
    def of(cls, start: datetime, end: datetime) -> TimeFrame:
        return cls(start.astimezone(UTC), end.astimezone(UTC))

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def overlaps(self, other: TimeFrame) -> bool:
        return self.start < other.end and other.start < self.end

    def require_future(self, now: datetime) -> None:
        if self.start < now - CLOCK_SKEW:
            raise CarRuleViolation("the time frame must not start in the past")
        if self.duration > MAX_SLOT:
            raise CarRuleViolation("a time frame may not be longer than a year")


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

    @classmethod
    def normalised(
        cls, make: str, model: str, year: int, jurisdiction: str, number_plate: str, now: datetime
    ) -> CarSpec:
        make, model = make.strip(), model.strip()
        if not make or not model:
            raise CarRuleViolation("make and model are required")
        if not MIN_YEAR <= year <= now.year + 1:
            raise CarRuleViolation(f"year must be between {MIN_YEAR} and {now.year + 1}")
        jurisdiction = jurisdiction.strip().upper()
        if not JURISDICTION.match(jurisdiction):
            raise CarRuleViolation("jurisdiction must be an ISO 3166-1 alpha-2 country code")
        plate = " ".join(number_plate.upper().split())
        if not PLATE.match(plate):
            raise CarRuleViolation(
                "number plate must be 1 to 15 letters, digits, spaces or hyphens"
            )
        return cls(make, model, year, jurisdiction, plate)


@dataclass
class Car:
    id: str
    tenant_id: str
    spec: CarSpec
    registered_at: datetime
    slots: list[UnavailabilitySlot] = field(default_factory=list)

    @classmethod
    def register(cls, tenant_id: str, spec: CarSpec, now: datetime) -> Car:
        return cls(uuid.uuid4().hex, tenant_id, spec, now)

    def make_unavailable(
        self,
        frame: TimeFrame,
        cause: Cause,
        now: datetime,
        booking_id: str | None = None,
    ) -> UnavailabilitySlot:
        """Take the car out of use for `frame`; `slots` must hold every slot that could clash."""
        frame.require_future(now)
        if (cause is Cause.RESERVATION) != (booking_id is not None):
            raise CarRuleViolation("a reservation, and only a reservation, names a booking")
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

    def ensure_deletable(self, now: datetime) -> None:
        if any(s.cause is Cause.RESERVATION and s.frame.end > now for s in self.slots):
            raise CarInUse("the car has reservations that have not ended yet")
