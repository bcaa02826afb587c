"""The emails service over HTTP on the real MongoDB, RabbitMQ and SMTP server: who reads which
delivered emails, and contact sales."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from chassis.storage.mongo import Mongo
from contracts.emails import EmailRequested, ListCompleted
from emails.repository import CONTACT_REQUESTS, EMAILS
from simulators.mailbox import Mailbox
from testkit.api import PlatformClient
from testkit.fixtures import EventProducer
from testkit.identity import People, Person
from testkit.waiting import eventually

from .conftest import SALES, Served, received


@pytest.fixture
def anonymous(http: aiohttp.ClientSession, service: Served) -> PlatformClient:
    return PlatformClient(http, service.url, None)


async def deliver(
    producer: EventProducer, mongo: Mongo, tenant: str | None, tags: list[str]
) -> str:
    """An email requested for `tenant`, once delivered; its id."""
    message = ListCompleted(list_id="l-1", list_name="Leads", rows_total=3, rows_failed=0)
    event = EmailRequested(to=f"p-{uuid.uuid4().hex[:8]}@example.com", message=message, tags=tags)
    envelope = await producer.publish(event, tenant_id=tenant)
    await eventually(
        lambda: mongo.raw(EMAILS).find_one({"_id": str(envelope.id), "status": "delivered"}),
        timeout=10,
    )
    return str(envelope.id)


async def test_operators_read_every_organizations_emails_owners_only_their_own(
    people: People,
    operator: Person,
    service: Served,
    anonymous: PlatformClient,
    producer: EventProducer,
    mongo: Mongo,
) -> None:
    alice, bob, carol = await people.person(), await people.person(), await people.person()
    # Alice owns the organization, Bob is a member of it; Carol owns her own.
    alice, bob = await people.organization(alice, bob)
    mine, theirs = alice.organization_id, carol.organization_id
    tag = f"t{uuid.uuid4().hex[:8]}"
    my_email = await deliver(producer, mongo, mine, [tag])
    their_email = await deliver(producer, mongo, theirs, [tag])

    ops = operator.calling(service.url)
    everyone = await ops.expect(200, "GET", "/emails", params={"tag": tag})
    assert {e["id"] for e in everyone.json()} == {my_email, their_email}
    one = await ops.expect(200, "GET", "/emails", params={"tag": tag, "organization_id": mine})
    [shown] = one.json()
    assert (shown["id"], shown["organization_id"]) == (my_email, mine)
    assert shown["subject"] == "Your list Leads is ready" and shown["delivered_at"]
    assert "body" not in shown and "text" not in shown

    owner = alice.calling(service.url)
    own = await owner.expect(200, "GET", "/emails", params={"tag": tag})
    assert [e["id"] for e in own.json()] == [my_email]
    # Another organization's owner finds nothing of this one's, and may not name it.
    other = carol.calling(service.url)
    assert [
        e["id"] for e in (await other.expect(200, "GET", "/emails", params={"tag": tag})).json()
    ] == [their_email]
    (await other.call("GET", "/emails", params={"organization_id": mine})).problem(403)
    # A member reads no one's emails; nobody without a token does.
    (await bob.calling(service.url).call("GET", "/emails")).problem(403)
    (await anonymous.call("GET", "/emails")).problem(401)


async def test_emails_are_filtered_by_time_and_tag_and_paged(
    someone: Person, service: Served, producer: EventProducer, mongo: Mongo
) -> None:
    tenant = someone.organization_id
    tag = f"t{uuid.uuid4().hex[:8]}"
    first = await deliver(producer, mongo, tenant, [tag])
    second = await deliver(producer, mongo, tenant, [tag, "other"])
    owner = someone.calling(service.url)

    newest_first = (await owner.expect(200, "GET", "/emails", params={"tag": tag})).json()
    assert [e["id"] for e in newest_first] == [second, first]
    paged = await owner.expect(
        200, "GET", "/emails", params={"tag": tag, "limit": "1", "offset": "1"}
    )
    assert [e["id"] for e in paged.json()] == [first]
    delivered = datetime.fromisoformat(newest_first[0]["delivered_at"])
    after = {"tag": tag, "from_utc": delivered.isoformat()}
    assert [e["id"] for e in (await owner.expect(200, "GET", "/emails", params=after)).json()] == [
        second
    ]
    before = {"tag": tag, "to_utc": delivered.isoformat()}
    assert [e["id"] for e in (await owner.expect(200, "GET", "/emails", params=before)).json()] == [
        first
    ]
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert (await owner.expect(200, "GET", "/emails", params={"from_utc": later})).json() == []

    for bad in (
        {"tag": "Not A Tag"},
        {"from_utc": "yesterday"},
        {"from_utc": "2026-01-01T00:00:00"},  # no UTC offset
        {"from_utc": later, "to_utc": datetime.now(UTC).isoformat()},
        {"limit": "0"},
        {"unknown": "1"},
    ):
        (await owner.call("GET", "/emails", params=bad)).problem(422)


async def test_contact_sales_keeps_the_request_and_both_emails_arrive(
    anonymous: PlatformClient, mailbox: Mailbox, mongo: Mongo
) -> None:
    prospect = f"buyer-{uuid.uuid4().hex[:8]}@example.com"
    company = f"<b>Acme {uuid.uuid4().hex[:6]}</b>"
    body = {"email": prospect, "company": company, "size": "50-200", "message": "Call me & soon"}
    answer = await anonymous.expect(202, "POST", "/contact-sales", json=body)
    request_id = answer.json()["id"]
    kept = await mongo.raw(CONTACT_REQUESTS).find_one({"_id": request_id})
    assert (kept["email"], kept["company"], kept["size"]) == (prospect, company, "50-200")

    [confirmation] = await eventually(lambda: received(mailbox, prospect), timeout=10)
    assert confirmation["Subject"] == "We received your request"
    leads = await eventually(
        lambda: [m for m in received(mailbox, SALES) if company in m["Subject"]], timeout=10
    )
    [lead] = leads
    text = lead.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = lead.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert prospect in text and "Call me & soon" in text
    assert "&lt;b&gt;Acme" in html and "<b>Acme" not in html
    assert "Call me &amp; soon" in html


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"company": "Acme", "message": "hi"}, "email"),
        ({"email": "not-an-address", "company": "Acme", "message": "hi"}, "email"),
        ({"email": "a@example.com", "company": "   ", "message": "hi"}, "company"),
        ({"email": "a@example.com", "company": "Acme", "message": ""}, "message"),
        ({"email": "a@example.com", "company": "Acme", "message": "x" * 5001}, "message"),
        ({"email": "a@example.com", "company": "Acme", "message": "hi", "size": "x" * 51}, "size"),
        ({"email": "a@example.com", "company": "Acme", "message": "hi", "admin": True}, "admin"),
    ],
)
async def test_bad_contact_requests_are_refused_and_nothing_is_kept(
    anonymous: PlatformClient, mongo: Mongo, body: dict[str, object], field: str
) -> None:
    before = await mongo.raw(CONTACT_REQUESTS).count_documents({})
    problem = (await anonymous.call("POST", "/contact-sales", json=body)).problem(422)
    assert any(field in e.field for e in problem.errors or []), problem
    assert await mongo.raw(CONTACT_REQUESTS).count_documents({}) == before


async def test_contact_sales_takes_json_only(anonymous: PlatformClient) -> None:
    (
        await anonymous.call(
            "POST", "/contact-sales", data=b"{nope", headers={"Content-Type": "application/json"}
        )
    ).problem(400)
    (
        await anonymous.call(
            "POST",
            "/contact-sales",
            data=b"email=a",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    ).problem(415)
