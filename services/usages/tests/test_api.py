"""The recording routes over HTTP, on the real MongoDB and RabbitMQ, delivering to the
analytics simulator: bad input refused with problems and nothing stored; good input taken
from anonymous visitors and signed-in callers alike, and delivered."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection

from testkit.analytics import AnalyticsSimulator
from testkit.api import PlatformClient
from testkit.identity import Person
from testkit.waiting import eventually
from usages.api import RECORD_MAX_BYTES

from .conftest import Running

ROUTES = ("measure", "use", "crash", "trace", "pageview")


def visitor() -> str:
    return f"anon-{uuid.uuid4().hex}"


def valid(what: str, anonymous_id: str | None) -> dict[str, Any]:
    bodies: dict[str, dict[str, Any]] = {
        "measure": {"name": "page_load", "value": 812.5, "unit": "ms", "dimensions": {"page": "/"}},
        "use": {"event": "test_started", "properties": {"questions": 20, "source": "landing"}},
        "crash": {"message": "x is undefined", "type": "TypeError", "stack": "at f (a.js:1)"},
        "trace": {"level": "info", "template": "took {ms} ms", "arguments": {"ms": 12}},
        "pageview": {"path": "/pricing", "title": "Pricing", "referrer": "https://example.com/"},
    }
    return {**bodies[what], **({"anonymous_id": anonymous_id} if anonymous_id else {})}


ANON = "anon-0123456789"
LONG = "x" * 501
# (route, body or raw bytes, status, the field the problem names or None)
BAD: list[tuple[str, Any, int, str | None]] = [
    ("use", {"event": "clicked"}, 422, "anonymous_id"),  # no token, no anonymous id
    ("use", {"event": "clicked", "anonymous_id": "short"}, 422, "anonymous_id"),
    ("use", {"event": "clicked", "anonymous_id": "has spaces in it"}, 422, "anonymous_id"),
    ("use", {"event": "Clicked It", "anonymous_id": ANON}, 422, "event"),
    ("use", {"anonymous_id": ANON}, 422, "event"),
    ("use", {"event": "c", "anonymous_id": ANON, "tenant_id": "other"}, 422, "tenant_id"),
    ("use", {"event": "c", "anonymous_id": ANON, "properties": {"Bad-Name": 1}}, 422, None),
    ("use", {"event": "c", "anonymous_id": ANON, "properties": {"p": LONG}}, 422, None),
    # Too long a string even if it spells a number: not taken as that number.
    ("use", {"event": "c", "anonymous_id": ANON, "properties": {"p": "0" * 501}}, 422, None),
    ("use", {"event": "c", "anonymous_id": ANON, "properties": {"p": {"a": 1}}}, 422, None),
    (
        "use",
        {"event": "c", "anonymous_id": ANON, "properties": {f"p{n}": n for n in range(51)}},
        422,
        "properties",
    ),
    ("measure", {"name": "load", "anonymous_id": ANON}, 422, "value"),
    (
        "measure",
        b'{"name": "load", "value": NaN, "anonymous_id": "' + ANON.encode() + b'"}',
        422,
        "value",
    ),
    ("measure", {"name": "load", "value": "fast", "anonymous_id": ANON}, 422, "value"),
    ("measure", {"name": "load", "value": "12", "anonymous_id": ANON}, 422, "value"),
    ("measure", {"name": "load", "value": False, "anonymous_id": ANON}, 422, "value"),
    (
        "measure",
        {
            "name": "l",
            "value": 1,
            "anonymous_id": ANON,
            "dimensions": {f"d{n}": 1 for n in range(21)},
        },
        422,
        "dimensions",
    ),
    ("crash", {"message": "", "anonymous_id": ANON}, 422, "message"),
    ("crash", {"message": "m", "stack": "s" * 10_001, "anonymous_id": ANON}, 422, "stack"),
    ("trace", {"level": "fatal", "template": "t", "anonymous_id": ANON}, 422, "level"),
    ("trace", {"level": "info", "template": LONG, "anonymous_id": ANON}, 422, "template"),
    ("pageview", {"path": "pricing", "anonymous_id": ANON}, 422, "path"),
    ("pageview", {"path": "/" + "p" * 2000, "anonymous_id": ANON}, 422, "path"),
    ("pageview", [ANON], 422, "body"),
    ("pageview", b'{"path": "/",', 400, None),
    *[(what, b"{" + b" " * RECORD_MAX_BYTES + b"}", 413, None) for what in ROUTES],
]


@pytest.mark.parametrize(("what", "body", "status", "field"), BAD)
async def test_bad_records_are_refused_with_a_problem_and_nothing_is_stored(
    anonymous: PlatformClient,
    stored: AsyncCollection[dict[str, Any]],
    what: str,
    body: Any,
    status: int,
    field: str | None,
) -> None:
    before = await stored.count_documents({})
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = await anonymous.call(
        "POST", f"/record/{what}", data=raw, headers={"Content-Type": "application/json"}
    )
    problem = answer.problem(status)
    if field is not None:
        assert problem.errors is not None and field in {e.field for e in problem.errors}
    assert await stored.count_documents({}) == before


async def test_a_body_sent_without_a_length_is_cut_off_past_the_limit(
    anonymous: PlatformClient,
) -> None:
    async def chunks() -> Any:
        for _ in range(RECORD_MAX_BYTES // 1024 + 1):
            yield b" " * 1024

    answer = await anonymous.call(
        "POST", "/record/use", data=chunks(), headers={"Content-Type": "application/json"}
    )
    answer.problem(413)


async def test_other_content_and_bad_tokens_are_refused(anonymous: PlatformClient) -> None:
    answer = await anonymous.call("POST", "/record/use", data=b"event=x")
    answer.problem(415)
    bad_token = {"Authorization": "Bearer not-a-token"}
    body = valid("use", visitor())
    (await anonymous.call("POST", "/record/use", json=body, headers=bad_token)).problem(401)


async def test_every_record_is_taken_anonymously_and_reaches_analytics_once(
    anonymous: PlatformClient, analytics: AnalyticsSimulator
) -> None:
    anonymous_id = visitor()
    recorded = {
        what: (await anonymous.record(what, valid(what, anonymous_id))).id for what in ROUTES
    }

    async def arrived() -> list[dict[str, Any]]:
        mine = [e for e in (await analytics.received()).events if e["distinct_id"] == anonymous_id]
        return mine if len(mine) >= len(ROUTES) else []

    events = {e["uuid"]: e for e in await eventually(arrived)}
    assert len(events) == len(ROUTES)
    assert set(events) == set(recorded.values())
    by_route = {what: events[usage_id] for what, usage_id in recorded.items()}
    assert by_route["pageview"]["event"] == "$pageview"
    assert by_route["pageview"]["properties"]["$pathname"] == "/pricing"
    assert by_route["crash"]["event"] == "$exception"
    assert by_route["crash"]["properties"]["$exception_message"] == "x is undefined"
    assert by_route["use"]["event"] == "test_started"
    assert by_route["use"]["properties"]["questions"] == 20
    assert by_route["measure"]["properties"]["metric"] == "page_load"
    assert by_route["trace"]["properties"]["level"] == "info"
    for event in events.values():
        # An anonymous visitor: no person profile, and no group.
        assert event["properties"]["$process_person_profile"] is False
        assert "$groups" not in event["properties"]


async def test_a_signed_in_caller_is_counted_in_their_tenant(
    person: Person, running: Running, analytics: AnalyticsSimulator
) -> None:
    tenant, user = person.organization_id, person.user_id
    earlier = visitor()
    caller = person.calling(running.url)
    use = await caller.record("use", valid("use", earlier))
    view = await caller.record("pageview", valid("pageview", None))

    async def arrived() -> list[dict[str, Any]]:
        mine = [e for e in (await analytics.received()).events if e["distinct_id"] == user]
        return mine if len(mine) >= 2 else []

    events = {e["uuid"]: e for e in await eventually(arrived)}
    assert set(events) == {use.id, view.id}
    for event in events.values():
        assert event["properties"]["$groups"] == {"organization": tenant}
        assert "$process_person_profile" not in event["properties"]
    assert events[use.id]["properties"]["$anon_distinct_id"] == earlier
