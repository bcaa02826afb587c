"""Emails requested as identity and the pipeline publish them, delivered to a real SMTP server
(aiosmtpd on the loopback) by the service on the real MongoDB and RabbitMQ: once each, also
when a request comes twice; after the server comes back; dead-lettered when refused."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aio_pika.abc import AbstractIncomingMessage

from chassis.storage.mongo import Mongo
from chassis.storage.outbox import OUTBOX
from contracts import Envelope
from contracts.audits import AuditRecorded
from contracts.emails import (
    EmailRequested,
    Invitation,
    ListCompleted,
    ListFailed,
    PasswordReset,
    RegistrationConfirmation,
)
from emails.domain import Claim, Email
from emails.rendering import Templates
from emails.repository import EMAILS, MongoClaims, email_document
from simulators.mailbox import Mailbox
from testkit.fixtures import EventProducer, TestInfra
from testkit.rabbit import Rabbit
from testkit.waiting import eventually

from .conftest import DELIVERY_QUEUE, REFUSED, WEBSITE, Served, received, refused_for_good

TOKEN = "tok_" + "a1B2" * 8


def address() -> str:
    return f"person-{uuid.uuid4().hex[:10]}@example.com"


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


async def one_message(mailbox: Mailbox, to: str) -> EmailMessage:
    [message] = await eventually(lambda: received(mailbox, to), timeout=10)
    return message


# As identity publishes them (no tenant for a person registering alone; the organization's
# for an invitation), and as the pipeline does (the list's tenant).
REQUESTS: list[tuple[str, Any, str | None, str]] = [
    (
        "registration",
        RegistrationConfirmation(first_name="Ada", token=TOKEN),
        None,
        f"{WEBSITE}/confirm-registration?token={TOKEN}",
    ),
    (
        "invitation",
        Invitation(inviter_name="Grace", organization_name="Acme", token=TOKEN),
        "org-acme",
        f"{WEBSITE}/accept-invitation?token={TOKEN}",
    ),
    (
        "reset",
        PasswordReset(first_name="Ada", token=TOKEN),
        None,
        f"{WEBSITE}/reset-password?token={TOKEN}",
    ),
    (
        "list-completed",
        ListCompleted(list_id="list-1", list_name="Leads", rows_total=10, rows_failed=1),
        "org-acme",
        f"{WEBSITE}/lists/list-1",
    ),
    (
        "list-failed",
        ListFailed(list_id="list-2", list_name="Leads", reason="not a CSV file"),
        "org-acme",
        f"{WEBSITE}/lists/list-2",
    ),
]


@pytest.mark.parametrize(
    ("message", "tenant", "link"), [r[1:] for r in REQUESTS], ids=[r[0] for r in REQUESTS]
)
async def test_a_requested_email_arrives_once_with_its_link(
    service: Served,
    producer: EventProducer,
    mailbox: Mailbox,
    mongo: Mongo,
    message: Any,
    tenant: str | None,
    link: str,
) -> None:
    to = address()
    event = EmailRequested(to=to, to_name="Ada Lovelace", message=message, tags=["test"])
    envelope = await producer.publish(event, tenant_id=tenant)

    arrived = await one_message(mailbox, to)
    assert link in text_of(arrived)
    assert f'href="{link.replace("&", "&amp;")}"' in html_of(arrived)
    assert arrived["Message-ID"].startswith(f"<{envelope.id}@")
    assert "Ada Lovelace" in str(arrived["To"])
    stored = await eventually(
        lambda: mongo.raw(EMAILS).find_one({"_id": str(envelope.id), "status": "delivered"})
    )
    assert stored["tenant_id"] == tenant
    assert "body" not in stored, "the body, with its single-use link, is dropped once sent"
    await asyncio.sleep(0.5)
    assert len(received(mailbox, to)) == 1


async def test_an_email_requested_twice_is_sent_once(
    service: Served, producer: EventProducer, mailbox: Mailbox, mongo: Mongo
) -> None:
    to = address()
    event = EmailRequested(to=to, message=PasswordReset(first_name="Ada", token=TOKEN))
    envelope = await producer.publish(event, tenant_id=None)
    await producer.resend(envelope)
    await one_message(mailbox, to)
    # And once more after it was sent: the inbox (and the email's id) remember it.
    await producer.resend(envelope)
    await asyncio.sleep(1.0)

    assert len(received(mailbox, to)) == 1
    assert await mongo.raw(EMAILS).count_documents({"to": to}) == 1


async def test_a_requested_email_is_sent_from_memory_with_no_hop_through_the_delivery_queue(
    service: Served, producer: EventProducer, mailbox: Mailbox, mongo: Mongo
) -> None:
    to = address()
    event = EmailRequested(to=to, message=PasswordReset(first_name="Ada", token=TOKEN))
    envelope = await producer.publish(event, tenant_id=None)

    await one_message(mailbox, to)
    await eventually(
        lambda: mongo.raw(EMAILS).find_one({"_id": str(envelope.id), "status": "delivered"})
    )
    queued = {"routing_key": "emails.delivery_due", "body": {"$regex": str(envelope.id)}}
    assert await mongo.raw(OUTBOX).count_documents(queued) == 0


async def test_an_email_a_dead_process_held_is_swept_and_sent_once_its_claim_has_run_out(
    service: Served, mailbox: Mailbox, mongo: Mongo
) -> None:
    # As a process that died between storing the email and settling it leaves it.
    to = address()
    content = Templates(WEBSITE).render(PasswordReset(first_name="Ada", token=TOKEN))
    now = datetime.now(UTC)
    email = Email.request(
        uuid.uuid4().hex, None, to, None, "password_reset", (), content, now, handed_over=True
    )
    held = email_document(email, Claim.new(now + timedelta(seconds=2)))
    await mongo.raw(EMAILS).insert_one(held)

    await asyncio.sleep(1.0)
    assert received(mailbox, to) == [], "not while its claim holds"
    await one_message(mailbox, to)
    await eventually(lambda: mongo.raw(EMAILS).find_one({"_id": email.id, "status": "delivered"}))
    await asyncio.sleep(0.5)
    assert len(received(mailbox, to)) == 1


async def test_an_email_waits_while_the_smtp_server_is_down_and_arrives_once_it_is_back(
    service: Served, producer: EventProducer, mailbox: Mailbox, mongo: Mongo
) -> None:
    to = address()
    mailbox.stop()
    try:
        event = EmailRequested(to=to, message=RegistrationConfirmation(first_name="A", token=TOKEN))
        envelope = await producer.publish(event, tenant_id=None)

        async def tried_twice() -> bool:
            doc = await mongo.raw(EMAILS).find_one({"_id": str(envelope.id)})
            return doc is not None and doc.get("attempts", 0) >= 2

        await eventually(tried_twice, timeout=10)
        doc = await mongo.raw(EMAILS).find_one({"_id": str(envelope.id)})
        assert doc["status"] == "pending"
        assert "unreachable" in doc["last_error"]
    finally:
        mailbox.start()

    await one_message(mailbox, to)
    await eventually(
        lambda: mongo.raw(EMAILS).find_one({"_id": str(envelope.id), "status": "delivered"})
    )


async def test_a_refused_recipient_is_recorded_failed_and_dead_lettered_with_the_reason(
    service: Served, producer: EventProducer, mailbox: Mailbox, mongo: Mongo, test_infra: TestInfra
) -> None:
    async with Rabbit.connect(test_infra.amqp_url) as rabbit:
        audits = await rabbit.watch("domain_events", AuditRecorded.event_type)
        event = EmailRequested(to=REFUSED, message=PasswordReset(first_name="No", token=TOKEN))
        envelope = await producer.publish(event, tenant_id="org-acme")
        email_id = str(envelope.id)

        failed, reason = await refused_for_good(mongo, rabbit, email_id)
        assert "550" in failed["failure"]
        assert "550" in reason and email_id in reason
        assert received(mailbox, REFUSED) == []
        [audit] = await eventually(lambda: _about(audits, f"email:{email_id}"))
        assert (audit.tenant_id, audit.data["outcome"]) == ("org-acme", "failed")
        await asyncio.sleep(1.0)
        doc = await mongo.raw(EMAILS).find_one({"_id": email_id})
        assert doc["attempts"] == 1
        assert await rabbit.waiting(DELIVERY_QUEUE) == 0
        assert await rabbit.waiting(f"{DELIVERY_QUEUE}.retry") == 0


async def test_a_delivered_email_is_audited_for_its_tenant(
    service: Served, producer: EventProducer, mailbox: Mailbox, test_infra: TestInfra
) -> None:
    async with Rabbit.connect(test_infra.amqp_url) as rabbit:
        audits = await rabbit.watch("domain_events", AuditRecorded.event_type)
        to = address()
        message = Invitation(inviter_name="Grace", organization_name="Acme", token=TOKEN)
        envelope = await producer.publish(
            EmailRequested(to=to, message=message), tenant_id="org-acme", actor_id="user-grace"
        )
        await one_message(mailbox, to)
        [audit] = await eventually(lambda: _about(audits, f"email:{envelope.id}"))
        recorded = audit.payload(AuditRecorded)
        assert (recorded.action, recorded.outcome) == ("emails.email_delivered", "succeeded")
        assert audit.tenant_id == "org-acme"
        assert audit.correlation_id == envelope.correlation_id


def _about(audits: list[AbstractIncomingMessage], target: str) -> list[Envelope]:
    envelopes = [Envelope.model_validate_json(message.body) for message in audits]
    return [e for e in envelopes if e.data["target"] == target]


async def test_only_the_current_claim_on_an_email_renews_or_releases_it(mongo: Mongo) -> None:
    content = Templates(WEBSITE).render(PasswordReset(first_name="Ada", token=TOKEN))
    now = datetime.now(UTC)
    email = Email.request(
        uuid.uuid4().hex,
        None,
        address(),
        None,
        "password_reset",
        (),
        content,
        now,
        handed_over=True,
    )
    first = Claim.new(now - timedelta(seconds=1))
    held = email_document(email, first)
    # Marked as the delivery queue's, for the running service's sweep to leave it to us.
    held["queued"] = True
    await mongo.raw(EMAILS).insert_one(held)
    claims = MongoClaims(mongo)

    # Its claim ran out while its sender still held it: another claims it.
    later = now + timedelta(seconds=60)
    taken = await claims.claim(email.id, now, later)
    assert taken is not None and taken.claim.token != first.token
    assert not await claims.renew(email.id, Claim(first.token, later)), "taken over"
    await claims.release(email.id, first, "late")
    assert await claims.claim(email.id, now, later) is None, "still held by the new claim"

    assert await claims.renew(email.id, Claim(taken.claim.token, later + timedelta(seconds=5)))
    doc = await mongo.raw(EMAILS).find_one({"_id": email.id})
    assert doc["claimed_by"] == taken.claim.token
    renewed_until = doc["claimed_until"].replace(tzinfo=UTC)
    assert abs(renewed_until - (later + timedelta(seconds=5))) < timedelta(milliseconds=1)
    await mongo.raw(EMAILS).delete_one({"_id": email.id})
