"""Recording through the gateway: a visitor's page view before signing in, and a signed-in
user's use of the product, reach the product-analytics simulator (its own record)."""

from __future__ import annotations

import uuid
from typing import Any

from testkit.analytics import AnalyticsSimulator
from testkit.api import PlatformClient
from testkit.identity import Person
from testkit.waiting import eventually


async def delivered(analytics: AnalyticsSimulator, usage_id: str) -> dict[str, Any]:
    async def found() -> list[dict[str, Any]]:
        return [e for e in (await analytics.received()).events if e["uuid"] == usage_id]

    [event] = await eventually(found, timeout=15)
    return event


async def test_a_visitors_page_view_and_a_users_use_reach_analytics(
    anonymous: PlatformClient,
    person: Person,
    analytics: AnalyticsSimulator,
) -> None:
    visitor = f"anon-{uuid.uuid4().hex}"
    view = await anonymous.record(
        "pageview", {"path": "/personality-test", "title": "Test", "anonymous_id": visitor}
    )
    use = await person.api.record("use", {"event": "test_submitted", "properties": {"answers": 20}})

    seen = await delivered(analytics, view.id)
    assert (seen["event"], seen["distinct_id"]) == ("$pageview", visitor)
    assert seen["properties"]["$pathname"] == "/personality-test"
    used = await delivered(analytics, use.id)
    assert (used["event"], used["distinct_id"]) == ("test_submitted", person.user_id)
    assert used["properties"]["$groups"] == {"organization": person.organization_id}


async def test_bad_records_are_refused_at_the_service_through_the_gateway(
    anonymous: PlatformClient,
) -> None:
    no_one = await anonymous.call("POST", "/record/use", json={"event": "clicked"})
    assert [e.field for e in no_one.problem(422).errors or []] == ["anonymous_id"]
    big = {"path": "/", "anonymous_id": "anon-12345678", "title": "t" * 20_000}
    (await anonymous.call("POST", "/record/pageview", json=big)).problem(413)
