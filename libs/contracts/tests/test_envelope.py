"""The envelope and commands: tenant events always name their tenant; replies are typed."""

from __future__ import annotations

import pytest

from contracts import Envelope
from contracts.cars import (
    CarDeleted,
    ReleaseCar,
    ReleaseReply,
    ReservationReply,
    ReserveCar,
)


def test_a_tenant_event_cannot_be_wrapped_without_its_tenant() -> None:
    with pytest.raises(ValueError, match="tenant"):
        Envelope.wrap(CarDeleted(car_id="c1"), tenant_id=None, actor_id=None, correlation_id="c")
    envelope = Envelope.wrap(
        CarDeleted(car_id="c1"), tenant_id="t", actor_id=None, correlation_id="c"
    )
    assert envelope.payload(CarDeleted).car_id == "c1"


def test_a_tenant_event_received_without_its_tenant_is_refused() -> None:
    envelope = Envelope.wrap(
        CarDeleted(car_id="c1"), tenant_id="t", actor_id=None, correlation_id="c"
    )
    stripped = envelope.model_copy(update={"tenant_id": None})
    with pytest.raises(ValueError, match="names no tenant"):
        stripped.payload(CarDeleted)


def test_a_command_knows_its_queue_and_its_reply() -> None:
    assert (ReserveCar.queue, ReserveCar.reply) == ("cars.reserve", ReservationReply)
    assert (ReleaseCar.queue, ReleaseCar.reply) == ("cars.release", ReleaseReply)
