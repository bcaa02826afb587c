"""The flags service over HTTP, with a flags file of the test's own and real tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from contracts.roles import PlatformRole
from flags.main import FlagsSettings, create_app
from testkit.api import FlagState, PlatformClient
from testkit.fixtures import TestInfra
from testkit.web import serving

FLAGS = """
test:
  beta:
    enabled: true
    users: [u-allowed]
    tenants: [t-allowed]
  everyone:
    enabled: true
    rollout_percent: 100
  dark:
    enabled: false
    users: [u-allowed]
    rollout_percent: 100
other:
  beta:
    enabled: false
"""
OPERATOR = [PlatformRole.STANDARD, PlatformRole.OPERATIONS]


@pytest.fixture(scope="module")
async def flags_url(
    test_infra: TestInfra, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    path = tmp_path_factory.mktemp("flags") / "flags.yaml"
    path.write_text(FLAGS)
    settings = FlagsSettings(
        jwks_url=test_infra.jwks_url, environment="test", flags_file=Path(path)
    )
    async with serving(create_app(settings)) as url:
        yield url


@pytest.fixture
def client(
    http: aiohttp.ClientSession, flags_url: str, token: Callable[..., str]
) -> Callable[..., PlatformClient]:
    def make(user: str, tenant: str | None = "t-1", **claims: Any) -> PlatformClient:
        return PlatformClient(http, flags_url, token(user_id=user, tenant_id=tenant, **claims))

    return make


async def test_every_flag_for_the_caller(client: Callable[..., PlatformClient]) -> None:
    assert await client("u-allowed").flags() == [
        FlagState(name="beta", enabled=True, reason="user_allowed"),
        FlagState(name="dark", enabled=False, reason="off"),
        FlagState(name="everyone", enabled=True, reason="in_rollout"),
    ]
    assert [f.enabled for f in await client("u-2", "t-allowed").flags()] == [True, False, True]
    assert [f.enabled for f in await client("u-2", None).flags()] == [False, False, True]


async def test_one_flag_for_the_caller(client: Callable[..., PlatformClient]) -> None:
    assert await client("u-2", "t-allowed").flag("beta") == FlagState(
        name="beta", enabled=True, reason="tenant_allowed"
    )
    assert (await client("u-2").flag("beta")).reason == "not_in_rollout"


async def test_operators_ask_for_another_user_and_no_one_else_may(
    client: Callable[..., PlatformClient],
) -> None:
    operator = client("ops-1", roles=OPERATOR)
    assert (await operator.flag("beta", user_id="u-allowed")).reason == "user_allowed"
    assert (await operator.flag("beta")).enabled is False
    answer = await operator.call(
        "GET", "/flags/beta", params={"user_id": "u-2", "tenant_id": "t-allowed"}
    )
    assert answer.parse(FlagState).reason == "tenant_allowed"
    for params in ({"user_id": "u-allowed"}, {"tenant_id": "t-allowed"}):
        (await client("u-2").call("GET", "/flags/beta", params=params)).problem(403)
    for params in ({"user_id": ""}, {"user_id": "x" * 201}, {"colour": "red"}):
        (await operator.call("GET", "/flags/beta", params=params)).problem(422)


async def test_an_unknown_flag_is_a_404_problem(client: Callable[..., PlatformClient]) -> None:
    problem = (await client("u-2").call("GET", "/flags/nope")).problem(404)
    assert "nope" in (problem.detail or "")
    operator = client("ops-1", roles=OPERATOR)
    (await operator.call("GET", "/flags/nope", params={"user_id": "u-2"})).problem(404)


async def test_every_route_needs_a_token(http: aiohttp.ClientSession, flags_url: str) -> None:
    anonymous = PlatformClient(http, flags_url, None)
    for path in ("/flags", "/flags/beta", "/flags/nope"):
        (await anonymous.call("GET", path)).problem(401)
    bad = PlatformClient(http, flags_url, "not-a-token")
    (await bad.call("GET", "/flags")).problem(401)


async def test_health_has_no_dependencies(http: aiohttp.ClientSession, flags_url: str) -> None:
    answer = await PlatformClient(http, flags_url, None).expect(200, "GET", "/health")
    assert answer.json() == {"service": "flags", "status": "ok", "checks": {}}
