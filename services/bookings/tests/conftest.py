from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from bookings.main import BookingsSettings, create_app
from cars.main import CarsSettings
from cars.main import create_app as create_cars_app
from chassis.service import Chassis
from testkit.fixtures import TestInfra
from testkit.web import serving


# Module scope: its cars instance consumes the one `cars.reserve` queue, so left running it
# would answer other tests' commands from its own database.
@pytest.fixture(scope="module")
async def services(test_infra: TestInfra) -> AsyncIterator[tuple[str, str, Chassis]]:
    """Cars and bookings, each with its own database, on the real broker."""
    cars_app, _ = create_cars_app(CarsSettings(**test_infra.env("cars_b")))
    bookings_app, bookings = create_app(BookingsSettings(**test_infra.env("bookings")))
    async with serving(cars_app) as cars_url, serving(bookings_app) as bookings_url:
        yield cars_url, bookings_url, bookings


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def auth(token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(
        tenant: str, user: str | None = None, roles: list[str] | None = None
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(tenant_id=tenant, user_id=user, roles=roles)}"}

    return headers
