"""The emails use cases on the in-memory unit of work, with stand-ins for the gateway and the
claims: what is stored, sent and published on every path a delivery can take."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from chassis.messaging.delivery import PoisonMessage
from chassis.messaging.subscriptions import context_of
from contracts import Envelope
from contracts.audits import AuditRecorded
from contracts.emails import EmailRequested, PasswordReset
from emails.domain import Status
from emails.gateway import PermanentFailure, TransientFailure
from emails.rendering import Templates
from emails.service import DeliveryDue, EmailBeingSent, EmailService

from .conftest import SALES, ClaimsStandIn, EmailsUoW, GatewayStandIn

TOKEN = "reset-token-0123456789"


@pytest.fixture
def gateway() -> GatewayStandIn:
    return GatewayStandIn()


@pytest.fixture
def claims(uow: EmailsUoW) -> ClaimsStandIn:
    return ClaimsStandIn(uow)


@pytest.fixture
def emails(
    uow: EmailsUoW, gateway: GatewayStandIn, claims: ClaimsStandIn, now: datetime
) -> EmailService:
    return EmailService(
        uow,
        Templates("https://app.example.com"),
        claims,
        gateway,
        sender="Platform <no-reply@example.com>",
        sales_email=SALES,
        claim_for=timedelta(seconds=60),
        clock=lambda: now,
    )


async def requested(uow: EmailsUoW, emails: EmailService, tenant: str | None = "org-a") -> str:
    event = EmailRequested(
        to="ada@example.com", message=PasswordReset(first_name="Ada", token=TOKEN), tags=["x"]
    )
    envelope = Envelope.wrap(event, tenant_id=tenant, actor_id=None, correlation_id="c-1")
    context = context_of(envelope)
    await uow.run(lambda tx: emails.email_requested(tx, event, context), tenant_id=tenant)
    return context.event_id


async def deliver(uow: EmailsUoW, emails: EmailService, email_id: str) -> None:
    event = DeliveryDue(email_id=email_id)
    envelope = Envelope.wrap(event, tenant_id=None, actor_id=None, correlation_id="c-1")
    await emails.deliver(event, context_of(envelope))


def audits(uow: EmailsUoW) -> list[AuditRecorded]:
    return uow.events(AuditRecorded)


async def test_a_requested_email_is_stored_pending_once_and_its_delivery_queued(
    uow: EmailsUoW, emails: EmailService
) -> None:
    email_id = await requested(uow, emails)
    stored = uow.state.emails[email_id]
    assert (stored.status, stored.tenant_id, stored.template) == (
        Status.PENDING,
        "org-a",
        "password_reset",
    )
    assert stored.body is not None and TOKEN in stored.body.text
    assert uow.events(DeliveryDue) == [DeliveryDue(email_id=email_id)]

    # The same request again (its inbox record long gone): nothing more is stored or queued.
    event = EmailRequested(to="ada@example.com", message=PasswordReset(first_name="A", token=TOKEN))
    envelope = Envelope.wrap(event, tenant_id="org-a", actor_id=None, correlation_id="c")
    context = context_of(envelope.model_copy(update={"id": uuid.UUID(email_id)}))
    await uow.run(lambda tx: emails.email_requested(tx, event, context), tenant_id="org-a")
    assert len(uow.state.emails) == 1
    assert len(uow.events(DeliveryDue)) == 1


async def test_a_delivery_sends_once_and_records_it_delivered(
    uow: EmailsUoW, emails: EmailService, gateway: GatewayStandIn, now: datetime
) -> None:
    email_id = await requested(uow, emails)
    await deliver(uow, emails, email_id)
    await deliver(uow, emails, email_id)  # a duplicate of the delivery

    [sent] = gateway.sent
    assert (sent.id, sent.to, sent.tags) == (email_id, "ada@example.com", ("x",))
    stored = uow.state.emails[email_id]
    assert (stored.status, stored.delivered_at, stored.body) == (Status.DELIVERED, now, None)
    [audit] = audits(uow)
    assert (audit.action, audit.target, audit.outcome) == (
        "emails.email_delivered",
        f"email:{email_id}",
        "succeeded",
    )
    assert uow.published[-1].tenant_id == "org-a"


async def test_a_refused_email_is_recorded_failed_and_its_delivery_dead_lettered(
    uow: EmailsUoW, emails: EmailService, gateway: GatewayStandIn
) -> None:
    email_id = await requested(uow, emails)
    gateway.failures = [PermanentFailure("SMTP 550 no such mailbox")]
    with pytest.raises(PoisonMessage, match="550 no such mailbox"):
        await deliver(uow, emails, email_id)

    stored = uow.state.emails[email_id]
    assert (stored.status, stored.failure) == (Status.FAILED, "SMTP 550 no such mailbox")
    [audit] = audits(uow)
    assert (audit.action, audit.outcome) == ("emails.email_failed", "failed")
    assert audit.detail is not None and "550" in audit.detail
    # Delivered again (a redelivery): dead-lettered again, never sent.
    with pytest.raises(PoisonMessage, match="550"):
        await deliver(uow, emails, email_id)
    assert gateway.sent == []


async def test_a_transient_failure_gives_the_claim_back_for_the_next_attempt(
    uow: EmailsUoW, emails: EmailService, gateway: GatewayStandIn, claims: ClaimsStandIn
) -> None:
    email_id = await requested(uow, emails)
    gateway.failures = [TransientFailure("SMTP server unreachable")]
    with pytest.raises(TransientFailure):
        await deliver(uow, emails, email_id)
    assert uow.state.emails[email_id].status is Status.PENDING
    assert email_id not in claims.claimed_until and "unreachable" in claims.errors[email_id]

    await deliver(uow, emails, email_id)
    assert [s.id for s in gateway.sent] == [email_id]
    assert uow.state.emails[email_id].status is Status.DELIVERED


async def test_an_email_claimed_by_another_delivery_is_left_to_it(
    uow: EmailsUoW, emails: EmailService, gateway: GatewayStandIn, claims: ClaimsStandIn, now
) -> None:
    email_id = await requested(uow, emails)
    claims.claimed_until[email_id] = now + timedelta(seconds=30)
    with pytest.raises(EmailBeingSent):
        await deliver(uow, emails, email_id)
    assert gateway.sent == []
    # A claim that ran out (its holder died) is taken over.
    claims.claimed_until[email_id] = now
    await deliver(uow, emails, email_id)
    assert [s.id for s in gateway.sent] == [email_id]


async def test_a_delivery_of_an_unknown_email_is_dead_lettered(emails: EmailService, uow) -> None:
    with pytest.raises(PoisonMessage, match="there is no email"):
        await deliver(uow, emails, "nope")


async def test_contact_sales_keeps_the_request_and_queues_both_emails_in_one_commit(
    uow: EmailsUoW, emails: EmailService
) -> None:
    request = await emails.contact_sales("buyer@example.com", "Acme", None, "Call me")

    assert uow.commits == 1
    assert uow.state.contact_requests[request.id].company == "Acme"
    by_recipient = {e.to: e for e in uow.state.emails.values()}
    assert set(by_recipient) == {SALES, "buyer@example.com"}
    assert by_recipient[SALES].template == "contact_sales_lead"
    assert by_recipient["buyer@example.com"].template == "contact_sales_confirmation"
    assert all(e.tags == ("contact-sales",) and e.tenant_id is None for e in by_recipient.values())
    assert {d.email_id for d in uow.events(DeliveryDue)} == set(uow.state.emails)
    [audit] = audits(uow)
    assert (audit.action, audit.target) == (
        "emails.contact_request_received",
        f"contact_request:{request.id}",
    )
