"""The PostHog adapter: the events it makes, and how it takes the API's answers (from the
simulator over HTTP)."""

from __future__ import annotations

from datetime import datetime

import pytest

from testkit.analytics import served_simulator
from usages.delivery import AnalyticsForbidden, AnalyticsRefused, AnalyticsUnavailable
from usages.domain import Kind, Usage, Who
from usages.posthog import PostHog, posthog_event

ANON = Who("anon-12345678", False)
USER = Who("user-1", True, "tenant-1", "anon-12345678")


def test_page_views_and_crashes_are_posthogs_own_events(now: datetime) -> None:
    view = Usage.record(Kind.PAGEVIEW, "pageview", ANON, now, {"path": "/p", "title": "P"})
    event = posthog_event(view)
    assert event["event"] == "$pageview" and event["uuid"] == view.id
    assert event["properties"]["$current_url"] == "/p"
    assert event["properties"]["$title"] == "P"
    assert "$referrer" not in event["properties"]
    assert event["properties"]["$process_person_profile"] is False
    crash = Usage.record(Kind.CRASH, "crash", USER, now, {"message": "boom", "type": "E"})
    properties = posthog_event(crash)["properties"]
    assert posthog_event(crash)["event"] == "$exception"
    assert properties["$exception_list"][0]["value"] == "boom"
    assert properties["$groups"] == {"organization": "tenant-1"}
    assert properties["$anon_distinct_id"] == "anon-12345678"


@pytest.fixture
async def usage(now: datetime) -> Usage:
    return Usage.record(Kind.USE, "clicked", USER, now, {"n": 1})


async def test_the_simulator_takes_a_batch_and_refuses_a_wrong_key(usage: Usage) -> None:
    async with served_simulator() as simulator:
        good, wrong = PostHog(simulator.url, simulator.api_key), PostHog(simulator.url, "phc_x")
        for client in (good, wrong):
            await client.start()
        try:
            await good.capture([usage])
            with pytest.raises(AnalyticsForbidden, match=r"^401"):
                await wrong.capture([usage])
            await simulator.fail(403, times=1)
            with pytest.raises(AnalyticsForbidden, match=r"^403"):
                await good.capture([usage])  # not tried again: a second try would be taken
            await simulator.fail(400, times=1)
            with pytest.raises(AnalyticsRefused, match=r"^400"):
                await good.capture([usage])
            await simulator.fail(429, times=1)
            await good.capture([usage])  # retried after the 429
            await simulator.fail(503, times=4)
            with pytest.raises(AnalyticsUnavailable, match=r"^503"):
                await good.capture([usage])  # four tries, all 503
        finally:
            for client in (good, wrong):
                await client.stop()
        received = await simulator.received()
        assert received.requests == 2
        assert [e["uuid"] for e in received.events] == [usage.id, usage.id]


async def test_no_server_is_unavailable_not_refused(usage: Usage) -> None:
    client = PostHog("http://127.0.0.1:9", "phc_x", attempts=2)
    await client.start()
    try:
        with pytest.raises(AnalyticsUnavailable):
            await client.capture([usage])
    finally:
        await client.stop()
