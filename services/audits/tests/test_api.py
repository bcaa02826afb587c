"""The audits service on the real MongoDB and RabbitMQ: audit events published as identity
will publish them are kept once each, whatever is redelivered; bad ones are dead-lettered
with their reason; and the trail is read only by those allowed to."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import aiohttp
import pytest

from audits.repository import ENTRIES, AuditQueries, AuditTrail, MongoAuditTrail
from chassis.messaging.delivery import DEAD_REASON_HEADER
from chassis.storage.documents import Reader
from contracts import Envelope
from contracts.audits import AuditOutcome, AuditRecorded
from testkit.api import PlatformClient
from testkit.fixtures import EventProducer
from testkit.identity import People, Person
from testkit.mongo_writes import INSERTED_ONCE, WriteCounter
from testkit.stored import Database
from testkit.waiting import eventually

# `logged` (conftest's Logged): what the service's messaging logged during the test.
QUEUE = "audits.audit_recorded"


def org() -> str:
    return f"org-{uuid.uuid4().hex[:8]}"


def identity_events(organization: str, user: str) -> list[tuple[AuditRecorded, str | None]]:
    """What identity will audit of one person signing up, founding an organization and
    inviting a guest, with the tenant each envelope names (none before there is one)."""
    return [
        (AuditRecorded(action="identity.user_registered", target=f"user:{user}"), None),
        (
            AuditRecorded(
                action="identity.registration_confirmation_requested", target=f"user:{user}"
            ),
            None,
        ),
        (
            AuditRecorded(
                action="identity.organization_created", target=f"organization:{organization}"
            ),
            organization,
        ),
        (
            AuditRecorded(
                action="identity.guest_invited",
                target="invitation:inv-1",
                detail="invited as member",
            ),
            organization,
        ),
        (
            AuditRecorded(
                action="identity.password_reset_requested",
                target=f"user:{user}",
                outcome=AuditOutcome.REFUSED,
                detail="too many requests",
            ),
            None,
        ),
    ]


def as_listed(envelope: Envelope) -> dict[str, Any]:
    """The entry `GET /audits` must answer for `envelope`: its fields, and the event's."""
    event = envelope.payload(AuditRecorded)
    # MongoDB keeps milliseconds.
    at = envelope.occurred_at.replace(microsecond=envelope.occurred_at.microsecond // 1000 * 1000)
    return {
        "id": str(envelope.id),
        "organization_id": envelope.tenant_id,
        "actor_id": envelope.actor_id,
        "action": event.action,
        "target": event.target,
        "outcome": event.outcome.value,
        "detail": event.detail,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "correlation_id": envelope.correlation_id,
    }


async def listed(caller: PlatformClient, **params: str) -> list[dict[str, Any]]:
    answer = await caller.expect(200, "GET", "/audits", params=params)
    entries: list[dict[str, Any]] = answer.json()
    return entries


async def publish_all(
    producer: EventProducer, events: list[tuple[AuditRecorded, str | None]], actor: str
) -> list[Envelope]:
    correlation = uuid.uuid4().hex  # one request of identity's caused them all
    return [
        await producer.publish(event, tenant_id=tenant, actor_id=actor, correlation_id=correlation)
        for event, tenant in events
    ]


async def test_identity_events_are_kept_once_each_also_when_delivered_again(
    operator: Person,
    audits_url: str,
    producer: EventProducer,
    audits_database: Database,
    logged: Any,
) -> None:
    organization, user = org(), f"user-{uuid.uuid4().hex[:6]}"
    ops = operator.calling(audits_url)
    # Counted from MongoDB's own record of writes, which the service does not write.
    writes = await WriteCounter.start(audits_database[ENTRIES])
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    envelopes = await publish_all(producer, identity_events(organization, user), user)
    ids = {str(e.id) for e in envelopes}

    async def all_kept() -> list[dict[str, Any]] | None:
        found = [e for e in await listed(ops, since=since) if e["id"] in ids]
        return found if len(found) == len(ids) else None

    kept = await eventually(all_kept, timeout=10)
    assert sorted(kept, key=lambda e: e["id"]) == sorted(
        (as_listed(e) for e in envelopes), key=lambda e: e["id"]
    )

    # A relay that crashed before marking them sent publishes them again, twice.
    for envelope in envelopes * 2:
        await producer.resend(envelope)

    async def skipped() -> bool:
        seen = [r for r in logged.named("event.duplicate_skipped") if r.get("message_id") in ids]
        return len(seen) == 2 * len(ids)

    await eventually(skipped, timeout=10)
    assert await writes.writes(ids) == {i: INSERTED_ONCE for i in ids}
    assert len([e for e in await listed(ops, since=since) if e["id"] in ids]) == len(ids)


async def test_nothing_in_the_service_can_change_or_delete_an_entry(
    http: aiohttp.ClientSession, audits_url: str
) -> None:
    def public(kind: type) -> set[str]:
        return {name for name in vars(kind) if not name.startswith("_")}

    # The trail a transaction holds only appends; the queries only read, through a Reader,
    # which has no writes at all; and the only route reads.
    assert public(AuditTrail) == public(MongoAuditTrail) == {"append"}
    assert public(AuditQueries) == {"entries"}
    writes = {"insert_one", "insert_many", "update_one", "delete_one", "delete_many", "defer"}
    assert not writes & set(dir(Reader))
    anonymous = PlatformClient(http, audits_url, None)
    openapi = (await anonymous.expect(200, "GET", "/openapi.json")).json()
    assert {(path, method) for path, item in openapi["paths"].items() for method in item} <= {
        ("/audits", "get"),
        ("/health", "get"),
        ("/openapi.json", "get"),
        ("/docs", "get"),
        ("/asyncapi.json", "get"),
    }


def bad_envelope(**changes: Any) -> dict[str, Any]:
    data = {"action": "identity.user_registered", "target": "user:u1"}
    envelope: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "type": "platform.audit_recorded",
        "version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "tenant_id": "org-x",
        "actor_id": "u1",
        "correlation_id": "corr-1",
        "data": data,
    }
    for name, value in changes.items():
        if name in data or name in ("outcome", "detail", "extra"):
            data[name] = value
        elif value is None:
            del envelope[name]
        else:
            envelope[name] = value
    return envelope


BAD: dict[str, tuple[bytes, str]] = {
    "not-json": (b"{audit", "invalid Envelope"),
    "no-correlation": (json.dumps(bad_envelope(correlation_id=None)).encode(), "correlation_id"),
    "naive-time": (
        json.dumps(bad_envelope(occurred_at="2026-01-01T10:00:00")).encode(),
        "occurred_at",
    ),
    "bad-action": (json.dumps(bad_envelope(action="DROP entries")).encode(), "action"),
    "no-target": (json.dumps(bad_envelope(target="")).encode(), "target"),
    "odd-outcome": (json.dumps(bad_envelope(outcome="maybe")).encode(), "outcome"),
    "long-detail": (json.dumps(bad_envelope(detail="x" * 1001)).encode(), "detail"),
    "extra-field": (json.dumps(bad_envelope(extra="y")).encode(), "extra"),
}


async def test_bad_envelopes_are_dead_lettered_with_their_reason_and_kept_nowhere(
    audits_url: str,
    channel: aio_pika.abc.AbstractChannel,
    audits_database: Database,
    logged: Any,
) -> None:
    exchange = await channel.get_exchange("domain_events")
    for message_id, (body, _) in BAD.items():
        message = aio_pika.Message(body, message_id=message_id, content_type="application/json")
        await exchange.publish(message, routing_key="platform.audit_recorded")

    dlq = await channel.get_queue(f"{QUEUE}.dlq", ensure=True)
    dead: dict[str, aio_pika.abc.AbstractIncomingMessage] = {}

    async def all_dead() -> bool:
        while (message := await dlq.get(no_ack=True, fail=False)) is not None:
            dead[message.message_id or ""] = message
        return len(dead) >= len(BAD)

    await eventually(all_dead, timeout=10)
    assert set(dead) == set(BAD)
    for message_id, (body, reason) in BAD.items():
        assert dead[message_id].body == body
        assert reason in str(dead[message_id].headers[DEAD_REASON_HEADER]), message_id
    # Refused at once, never retried, and the reason is in the log too.
    logged_reasons = {r["message_id"]: r["reason"] for r in logged.named("message.dead_lettered")}
    assert set(logged_reasons) == set(BAD)
    assert all(r["attempt"] == 1 for r in logged.named("message.dead_lettered"))
    assert await audits_database[ENTRIES].count_documents({"correlation_id": "corr-1"}) == 0


@dataclass(frozen=True)
class TwoOrganizations:
    """Organization a: its owner and a member who is not; organization b: its owner. Three
    entries of each, and one entry of no organization."""

    a: str
    b: str
    owner_of_a: PlatformClient
    member_of_a: PlatformClient
    owner_of_b: PlatformClient
    of_a: list[Envelope]
    of_b: list[Envelope]


@pytest.fixture
async def two_organizations(
    people: People, operator: Person, audits_url: str, producer: EventProducer
) -> TwoOrganizations:
    alice, bob, carol = await people.person(), await people.person(), await people.person()
    alice, bob = await people.organization(alice, bob)
    a, b = alice.organization_id, carol.organization_id
    made: dict[str, list[Envelope]] = {a: [], b: []}
    for tenant in (a, b):
        for n in range(3):
            event = AuditRecorded(action="cars.car_registered", target=f"car:{tenant}-{n}")
            made[tenant].append(await producer.publish(event, tenant_id=tenant, actor_id="u1"))
    platform = AuditRecorded(action="identity.user_registered", target="user:u1")
    nobody = await producer.publish(platform, tenant_id=None, actor_id="u1")
    ops = operator.calling(audits_url)

    async def kept() -> bool:
        ids = {e["id"] for e in await listed(ops, limit="500")}
        return {str(e.id) for e in [*made[a], *made[b], nobody]} <= ids

    await eventually(kept, timeout=10)
    return TwoOrganizations(
        a,
        b,
        alice.calling(audits_url),
        bob.calling(audits_url),
        carol.calling(audits_url),
        made[a],
        made[b],
    )


async def test_owners_read_their_own_organization_only_and_operators_any(
    operator: Person, audits_url: str, two_organizations: TwoOrganizations
) -> None:
    two = two_organizations
    a, b = two.a, two.b
    newest_first = [str(e.id) for e in reversed(two.of_a)]
    assert [e["id"] for e in await listed(two.owner_of_a)] == newest_first
    assert [e["id"] for e in await listed(two.owner_of_a, organization_id=a)] == newest_first
    (await two.owner_of_a.call("GET", "/audits", params={"organization_id": b})).problem(403)
    (await two.owner_of_b.call("GET", "/audits", params={"organization_id": a})).problem(403)

    ops = operator.calling(audits_url)
    assert [e["id"] for e in await listed(ops, organization_id=b)] == [
        str(e.id) for e in reversed(two.of_b)
    ]
    every = {e["organization_id"] for e in await listed(ops, limit="500")}
    assert {a, b, None} <= every

    # A member who is not an owner reads nothing, not even their organization's entries.
    (await two.member_of_a.call("GET", "/audits", params={"organization_id": a})).problem(403)
    (await two.member_of_a.call("GET", "/audits")).problem(403)
    (await two.owner_of_a.as_caller(None).call("GET", "/audits")).problem(401)


async def test_paging_and_since(two_organizations: TwoOrganizations) -> None:
    owner, of_a = two_organizations.owner_of_a, two_organizations.of_a
    newest_first = [str(e.id) for e in reversed(of_a)]
    assert [e["id"] for e in await listed(owner, limit="2")] == newest_first[:2]
    assert [e["id"] for e in await listed(owner, limit="2", offset="2")] == newest_first[2:]
    since = of_a[1].occurred_at.isoformat()
    assert [e["id"] for e in await listed(owner, since=since)] == newest_first[:2]


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"since": "2026-01-01T10:00:00"},  # no offset: which instant is it?
        {"limit": "0"},
        {"limit": "501"},
        {"offset": "-1"},
        {"organization_id": ""},
        {"organisation_id": "org-x"},  # a misspelt filter is refused, not ignored
    ],
)
async def test_bad_queries_are_422_problems(
    operator: Person, audits_url: str, params: dict[str, str]
) -> None:
    (await operator.calling(audits_url).call("GET", "/audits", params=params)).problem(422)
