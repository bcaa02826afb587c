"""Feature flags through the gateway, from the e2e section of a flags file of the tests'.

The file's allow lists name ids no registered person has (`beta-tester`, `beta-tenant`):
operators ask for those, and for any number of users, on others' behalf."""

from __future__ import annotations

import asyncio

from testkit.api import FlagState, PlatformClient
from testkit.identity import People, Person


async def test_each_caller_gets_their_own_stable_answers(
    people: People, person: Person, operator: Person
) -> None:
    ops = operator.api
    # Decided for the caller: the tester's allow-listed answers are not theirs.
    mine = await person.api.flags()
    assert [f.name for f in mine] == ["beta", "dark", "ten-percent"]
    assert mine[0].enabled is False
    assert mine[1] == FlagState(name="dark", enabled=False, reason="off")
    assert mine[2] == await ops.flag("ten-percent", user_id=person.user_id)
    # The same answers from the person's next token.
    assert await (await people.refreshed(person)).api.flags() == mine

    tester = [await ops.flag(name, user_id="beta-tester") for name in ("beta", "dark")]
    assert tester == [
        FlagState(name="beta", enabled=True, reason="user_allowed"),
        FlagState(name="dark", enabled=False, reason="off"),
    ]
    of_tenant = await ops.call(
        "GET", "/flags/beta", params={"user_id": "someone", "tenant_id": "beta-tenant"}
    )
    assert of_tenant.parse(FlagState).reason == "tenant_allowed"

    # The same user, asked for again and again: the same answers.
    users = [f"user-{n}" for n in range(100)]
    first = await asyncio.gather(*(ops.flag("ten-percent", user_id=u) for u in users))
    again = await asyncio.gather(*(ops.flag("ten-percent", user_id=u) for u in users))
    assert first == again
    assert 0 < sum(f.enabled for f in first) < 40  # about a tenth of them


async def test_operators_ask_for_others_and_no_one_else_may(
    person: Person, operator: Person
) -> None:
    assert (await operator.api.flag("beta", user_id="beta-tester")).reason == "user_allowed"
    asked = await person.api.call("GET", "/flags/beta", params={"user_id": "beta-tester"})
    asked.problem(403)


async def test_an_unknown_flag_is_404_and_every_route_needs_a_token(
    client: PlatformClient, anonymous: PlatformClient
) -> None:
    problem = (await client.call("GET", "/flags/no-such-flag")).problem(404)
    assert "no-such-flag" in (problem.detail or "")
    for path in ("/flags", "/flags/beta"):
        (await anonymous.call("GET", path)).problem(401)
