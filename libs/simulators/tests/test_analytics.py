"""The analytics simulator checks what PostHog's capture API checks, keeps what it took,
and fails when told to."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from simulators.analytics import DEFAULT_API_KEY, Simulator
from testkit.web import serving

EVENT = {"event": "clicked", "distinct_id": "u1", "uuid": "0b6b1f1e-5b9a-4c1e-9a52-1d1f7e0a0c11"}


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with serving(Simulator(frozenset([DEFAULT_API_KEY])).app()) as url:
        yield url


async def post(url: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(url, **kwargs, json=body) as response:
        return response.status, await response.json(content_type=None)


async def test_batches_and_single_events_with_the_key_are_kept(url: str) -> None:
    assert await post(f"{url}/batch/", {"api_key": DEFAULT_API_KEY, "batch": [EVENT, EVENT]}) == (
        200,
        {"status": 1},
    )
    status, _ = await post(f"{url}/i/v0/e/", {"api_key": DEFAULT_API_KEY, **EVENT})
    assert status == 200
    raw = gzip.compress(json.dumps({"api_key": DEFAULT_API_KEY, **EVENT}).encode())
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/capture/", data=raw, headers={"Content-Encoding": "gzip"}) as response,
    ):
        assert response.status == 200
    async with aiohttp.ClientSession() as http, http.get(f"{url}/_simulator/events") as r:
        held = await r.json()
    assert held["requests"] == 3
    assert [e["request"] for e in held["events"]] == [1, 1, 2, 3]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"batch": [EVENT]}, 401),
        ({"api_key": "phc_wrong", "batch": [EVENT]}, 401),
        ({"api_key": DEFAULT_API_KEY, "batch": []}, 400),
        ({"api_key": DEFAULT_API_KEY, "batch": [{"event": "x"}]}, 400),
        ({"api_key": DEFAULT_API_KEY, "batch": [{**EVENT, "uuid": "nope"}]}, 400),
        ({"api_key": DEFAULT_API_KEY, "batch": [{**EVENT, "timestamp": "yesterday"}]}, 400),
        ({"api_key": DEFAULT_API_KEY, "batch": [{**EVENT, "properties": [1]}]}, 400),
    ],
)
async def test_what_the_real_api_refuses_is_refused_and_not_kept(
    url: str, body: Any, status: int
) -> None:
    answer, problem = await post(f"{url}/batch/", body)
    assert answer == status and problem["detail"]
    async with aiohttp.ClientSession() as http, http.get(f"{url}/_simulator/events") as r:
        assert (await r.json())["events"] == []


async def test_it_fails_as_told_then_takes_again(url: str) -> None:
    await post(f"{url}/_simulator/fail", {"status": 503, "times": 2})
    batch = {"api_key": DEFAULT_API_KEY, "batch": [EVENT]}
    assert [(await post(f"{url}/batch/", batch))[0] for _ in range(3)] == [503, 503, 200]


async def test_a_batch_holding_an_event_it_was_told_to_refuse_is_refused_whole(url: str) -> None:
    assert await post(f"{url}/_simulator/refuse", {"event": "bad_event"}) == (204, None)
    bad = {**EVENT, "event": "bad_event"}
    status, problem = await post(
        f"{url}/batch/", {"api_key": DEFAULT_API_KEY, "batch": [EVENT, bad]}
    )
    assert status == 400 and "bad_event" in problem["detail"]
    assert (await post(f"{url}/i/v0/e/", {"api_key": DEFAULT_API_KEY, **bad}))[0] == 400
    assert (await post(f"{url}/batch/", {"api_key": DEFAULT_API_KEY, "batch": [EVENT]}))[0] == 200
    async with aiohttp.ClientSession() as http, http.get(f"{url}/_simulator/events") as r:
        held = await r.json()
    assert [e["event"] for e in held["events"]] == ["clicked"]
    # Forgetting also forgets the refusal.
    async with aiohttp.ClientSession() as http, http.delete(f"{url}/_simulator/events"):
        pass
    assert (await post(f"{url}/batch/", {"api_key": DEFAULT_API_KEY, "batch": [bad]}))[0] == 200


async def test_it_holds_only_the_newest_events() -> None:
    async with serving(Simulator(frozenset([DEFAULT_API_KEY]), max_events=3).app()) as url:
        batch = [{**EVENT, "properties": {"n": n}} for n in range(5)]
        assert (await post(f"{url}/batch/", {"api_key": DEFAULT_API_KEY, "batch": batch}))[0] == 200
        async with aiohttp.ClientSession() as http, http.get(f"{url}/_simulator/events") as r:
            held = await r.json()
    assert held["requests"] == 1
    assert [e["properties"]["n"] for e in held["events"]] == [2, 3, 4]


def test_the_default_bound_is_ten_thousand_events() -> None:
    assert Simulator(frozenset([DEFAULT_API_KEY])).events.maxlen == 10_000
