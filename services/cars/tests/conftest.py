from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from cars.main import CarsSettings, create_app
from chassis.service import Chassis
from testkit.fixtures import TestInfra
from testkit.web import serving


# Module scope: every cars instance consumes the one `cars.reserve` queue, so an instance left
# running would answer other tests' commands from its own database.
@pytest.fixture(scope="module")
async def cars_service(test_infra: TestInfra) -> AsyncIterator[tuple[str, Chassis]]:
    app, chassis = create_app(CarsSettings(**test_infra.env("cars")))
    async with serving(app) as url:
        yield url, chassis


@pytest.fixture
def cars_url(cars_service: tuple[str, Chassis]) -> str:
    return cars_service[0]


@pytest.fixture
def cars_chassis(cars_service: tuple[str, Chassis]) -> Chassis:
    return cars_service[1]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def auth(token: Callable[..., str]) -> Callable[[str], dict[str, str]]:
    """Headers of a caller acting for `tenant`."""
    return lambda tenant: {"Authorization": f"Bearer {token(tenant_id=tenant)}"}
