"""The flags service over HTTP, with a flags file of the test's own naming people identity
registered, who call with the tokens it issued them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from flags.main import FlagsSettings, create_app
from testkit.api import FlagState, PlatformClient
from testkit.fixtures import TestInfra
from testkit.identity import People, Person
from testkit.web import serving

# The flags file: the person and the organization it names are known once registered.
FLAGS = """
test:
  beta:
    enabled: true
    users: [{allowed}]
    tenants: [{allowed_tenant}]
  everyone:
    enabled: true
    rollout_percent: 100
  dark:
    enabled: false
    users: [{allowed}]
    rollout_percent: 100
other:
  beta:
    enabled: false
"""


@dataclass(frozen=True)
class Cast:
    """Who calls: a person the flags name (`allowed`), the owner of an organization they name
    (`insider`), and a person named nowhere (`outsider`); each calling the flags service."""

    allowed: Person
    insider: Person
    outsider: Person


@pytest.fixture(scope="module")
async def cast(people: People) -> Cast:
    return Cast(await people.person(), await people.person(), await people.person())


@pytest.fixture(scope="module")
async def flags_url(
    test_infra: TestInfra, tmp_path_factory: pytest.TempPathFactory, cast: Cast
) -> AsyncIterator[str]:
    path = tmp_path_factory.mktemp("flags") / "flags.yaml"
    named = {"allowed": cast.allowed.user_id, "allowed_tenant": cast.insider.organization_id}
    path.write_text(FLAGS.format(**named))
    settings = FlagsSettings(
        jwks_url=test_infra.jwks_url, environment="test", flags_file=Path(path)
    )
    async with serving(create_app(settings)) as url:
        yield url


async def test_every_flag_for_the_caller(cast: Cast, flags_url: str) -> None:
    assert await cast.allowed.calling(flags_url).flags() == [
        FlagState(name="beta", enabled=True, reason="user_allowed"),
        FlagState(name="dark", enabled=False, reason="off"),
        FlagState(name="everyone", enabled=True, reason="in_rollout"),
    ]
    insider, outsider = cast.insider.calling(flags_url), cast.outsider.calling(flags_url)
    assert [f.enabled for f in await insider.flags()] == [True, False, True]
    assert [f.enabled for f in await outsider.flags()] == [False, False, True]


async def test_one_flag_for_the_caller(cast: Cast, flags_url: str) -> None:
    assert await cast.insider.calling(flags_url).flag("beta") == FlagState(
        name="beta", enabled=True, reason="tenant_allowed"
    )
    assert (await cast.outsider.calling(flags_url).flag("beta")).reason == "not_in_rollout"


async def test_operators_ask_for_another_user_and_no_one_else_may(
    cast: Cast, operator: Person, flags_url: str
) -> None:
    ops = operator.calling(flags_url)
    allowed, outsider = cast.allowed.user_id, cast.outsider
    assert (await ops.flag("beta", user_id=allowed)).reason == "user_allowed"
    assert (await ops.flag("beta")).enabled is False
    answer = await ops.call(
        "GET",
        "/flags/beta",
        params={"user_id": outsider.user_id, "tenant_id": cast.insider.organization_id},
    )
    assert answer.parse(FlagState).reason == "tenant_allowed"
    for params in ({"user_id": allowed}, {"tenant_id": cast.insider.organization_id}):
        (await outsider.calling(flags_url).call("GET", "/flags/beta", params=params)).problem(403)
    for params in ({"user_id": ""}, {"user_id": "x" * 201}, {"colour": "red"}):
        (await ops.call("GET", "/flags/beta", params=params)).problem(422)


async def test_an_unknown_flag_is_a_404_problem(
    cast: Cast, operator: Person, flags_url: str
) -> None:
    outsider = cast.outsider
    problem = (await outsider.calling(flags_url).call("GET", "/flags/nope")).problem(404)
    assert "nope" in (problem.detail or "")
    ops = operator.calling(flags_url)
    (await ops.call("GET", "/flags/nope", params={"user_id": outsider.user_id})).problem(404)


async def test_every_route_needs_a_token(http: aiohttp.ClientSession, flags_url: str) -> None:
    anonymous = PlatformClient(http, flags_url, None)
    for path in ("/flags", "/flags/beta", "/flags/nope"):
        (await anonymous.call("GET", path)).problem(401)
    bad = PlatformClient(http, flags_url, "not-a-token")
    (await bad.call("GET", "/flags")).problem(401)


async def test_health_has_no_dependencies(http: aiohttp.ClientSession, flags_url: str) -> None:
    answer = await PlatformClient(http, flags_url, None).expect(200, "GET", "/health")
    assert answer.json() == {"service": "flags", "status": "ok", "checks": {}}
