"""The gateway's `/health` over every service as its own process: each one's own MongoDB and
broker checks; a service killed is named and the answer is 503 until it is back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.services import backends
from devstack.system import System
from testkit.api import PlatformClient
from testkit.waiting import eventually

KILLED = "flags"
# Checks a service reports beside its MongoDB and broker: images' blob store.
OWN_CHECKS = {"images": {"blobs": "ok"}}


@pytest.fixture
def killed(system: System) -> Iterator[str]:
    """`KILLED` killed as a crash would; started again afterwards, whatever the test did."""
    system.kill(KILLED)
    yield KILLED
    system.start([KILLED], 60)


async def health(anonymous: PlatformClient) -> tuple[int, dict[str, Any]]:
    answer = await anonymous.call("GET", "/health")
    return answer.status, answer.json()


async def test_every_service_shows_with_its_own_checks(anonymous: PlatformClient) -> None:
    status, body = await health(anonymous)
    assert status == 200 and body["down"] == [], body
    upstreams = body["upstreams"]
    assert set(upstreams) == {s.name for s in backends()}
    for service in backends():
        expected = {"mongo": "ok", "broker": "ok"} if service.stores else {}
        expected |= OWN_CHECKS.get(service.name, {})
        assert upstreams[service.name] == {"status": "ok", "checks": expected, "error": None}


async def test_a_service_down_is_named_and_the_answer_is_503_until_it_is_back(
    anonymous: PlatformClient, system: System, killed: str
) -> None:
    status, body = await health(anonymous)
    assert status == 503, body
    assert body["down"] == [killed]
    assert body["upstreams"][killed] == {"status": "down", "checks": {}, "error": "unreachable"}
    # The others' own MongoDB and broker, as they report them.
    for service in backends():
        if service.name != killed and service.stores:
            expected = {"mongo": "ok", "broker": "ok", **OWN_CHECKS.get(service.name, {})}
            assert body["upstreams"][service.name]["checks"] == expected

    await asyncio.to_thread(system.start, [killed], 60)

    async def healthy() -> bool:
        return (await health(anonymous))[0] == 200

    await eventually(healthy, timeout=10)
    status, body = await health(anonymous)
    assert (status, body["down"]) == (200, [])
