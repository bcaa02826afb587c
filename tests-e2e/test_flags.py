"""Feature flags through the gateway, from the e2e section of a flags file of the tests'."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from contracts.roles import PlatformRole
from testkit.api import FlagState, PlatformClient

OPERATOR = [PlatformRole.STANDARD, PlatformRole.OPERATIONS]


async def test_each_caller_gets_their_own_stable_answers(
    caller: Callable[..., PlatformClient],
) -> None:
    tester = caller(user_id="beta-tester")
    assert await tester.flags() == [
        FlagState(name="beta", enabled=True, reason="user_allowed"),
        FlagState(name="dark", enabled=False, reason="off"),
        (await tester.flag("ten-percent")),
    ]
    of_tenant = caller(tenant_id="beta-tenant", user_id="someone")
    assert (await of_tenant.flag("beta")).reason == "tenant_allowed"
    assert (await caller(user_id="someone").flag("beta")).enabled is False

    # The same user, asking again and again, from new tokens: the same answers.
    users = [f"user-{n}" for n in range(100)]
    first = await asyncio.gather(*(caller(user_id=u).flag("ten-percent") for u in users))
    again = await asyncio.gather(*(caller(user_id=u).flag("ten-percent") for u in users))
    assert first == again
    assert 0 < sum(f.enabled for f in first) < 40  # about a tenth of them


async def test_operators_ask_for_others_and_no_one_else_may(
    caller: Callable[..., PlatformClient],
) -> None:
    operator = caller(user_id="ops", roles=OPERATOR)
    assert (await operator.flag("beta", user_id="beta-tester")).reason == "user_allowed"
    (await caller().call("GET", "/flags/beta", params={"user_id": "beta-tester"})).problem(403)


async def test_an_unknown_flag_is_404_and_every_route_needs_a_token(
    caller: Callable[..., PlatformClient], anonymous: PlatformClient
) -> None:
    problem = (await caller().call("GET", "/flags/no-such-flag")).problem(404)
    assert "no-such-flag" in (problem.detail or "")
    for path in ("/flags", "/flags/beta"):
        (await anonymous.call("GET", path)).problem(401)
