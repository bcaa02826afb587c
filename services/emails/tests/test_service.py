"""The emails use cases on the in-memory unit of work, with stand-ins for the gateway and the
claims: what is stored, sent and published on every path a delivery can take, handed over
from memory to the senders or through the delivery queue."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import structlog

from chassis.messaging.delivery import PoisonMessage
from chassis.messaging.subscriptions import context_of
from contracts import Envelope
from contracts.audits import AuditRecorded
from contracts.emails import EmailRequested, PasswordReset
from emails.domain import Status
from emails.gateway import ConfigurationFailure, Outgoing, PermanentFailure, TransientFailure
from emails.rendering import Templates
from emails.service import DeliveryDue, EmailBeingSent, EmailService
from testkit.waiting import eventually

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


@pytest.fixture
async def senders(emails: EmailService) -> AsyncIterator[EmailService]:
    """The service with its senders running, as the process runs them."""
    await emails.senders.start()
    yield emails
    await emails.senders.stop()
    await emails.settling.drain(5)


async def requested(uow: EmailsUoW, emails: EmailService, tenant: str | None = "org-a") -> str:
    event = EmailRequested(
        to="ada@example.com", message=PasswordReset(first_name="Ada", token=TOKEN), tags=["x"]
    )
    envelope = Envelope.wrap(event, tenant_id=tenant, actor_id=None, correlation_id="c-1")
    context = context_of(envelope)
    # Bound as the consumer binds it while the request is handled.
    with structlog.contextvars.bound_contextvars(correlation_id=envelope.correlation_id):
        await uow.run(lambda tx: emails.email_requested(tx, event, context), tenant_id=tenant)
    return context.event_id


def status(uow: EmailsUoW, email_id: str) -> Status:
    return uow.state.emails[email_id].status


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


# --- handed over to the senders ---------------------------------------------------------------


async def test_a_requested_email_is_handed_to_the_senders_and_settled_in_a_batch(
    uow: EmailsUoW, senders: EmailService, gateway: GatewayStandIn, claims: ClaimsStandIn
) -> None:
    ids = [await requested(uow, senders, tenant=f"org-{n}") for n in range(5)]
    assert claims.claimed_until.keys() >= set(ids), "stored claimed by this process's senders"

    await eventually(lambda: all(status(uow, i) is Status.DELIVERED for i in ids))
    assert sorted(s.id for s in gateway.sent) == sorted(ids)
    assert uow.events(DeliveryDue) == [], "no hop through the delivery queue"
    assert uow.commits - len(ids) < len(ids), "outcomes are settled several a transaction"
    delivered = [e for e in uow.published if e.type == AuditRecorded.event_type]
    assert sorted(e.tenant_id for e in delivered) == [f"org-{n}" for n in range(5)]
    assert {e.correlation_id for e in delivered} == {"c-1"}, "each audit in its request's"


async def test_a_handed_over_email_the_server_cannot_take_now_goes_to_the_delivery_queue(
    uow: EmailsUoW, senders: EmailService, gateway: GatewayStandIn, claims: ClaimsStandIn
) -> None:
    gateway.failures = [TransientFailure("SMTP server unreachable")]
    email_id = await requested(uow, senders)

    await eventually(lambda: uow.events(DeliveryDue))
    assert uow.events(DeliveryDue) == [DeliveryDue(email_id=email_id)]
    assert status(uow, email_id) is Status.PENDING
    assert email_id not in claims.claimed_until and "unreachable" in claims.errors[email_id]
    # The queue's delivery (whose retries wait out the outage) sends it.
    await deliver(uow, senders, email_id)
    assert [s.id for s in gateway.sent] == [email_id]
    assert status(uow, email_id) is Status.DELIVERED


async def test_a_handed_over_email_refused_for_good_is_failed_and_its_delivery_dead_lettered(
    uow: EmailsUoW, senders: EmailService, gateway: GatewayStandIn
) -> None:
    gateway.failures = [PermanentFailure("SMTP 550 no such mailbox")]
    email_id = await requested(uow, senders)

    await eventually(lambda: status(uow, email_id) is Status.FAILED)
    assert uow.state.emails[email_id].failure == "SMTP 550 no such mailbox"
    [audit] = audits(uow)
    assert (audit.action, audit.outcome) == ("emails.email_failed", "failed")
    # Its delivery goes to the queue only to be dead-lettered there with the reason.
    assert uow.events(DeliveryDue) == [DeliveryDue(email_id=email_id)]
    with pytest.raises(PoisonMessage, match="550 no such mailbox"):
        await deliver(uow, senders, email_id)
    assert gateway.sent == []


async def test_an_email_settled_by_another_delivery_meanwhile_keeps_the_first_outcome(
    uow: EmailsUoW, senders: EmailService, gateway: GatewayStandIn, now: datetime
) -> None:
    first, second = await requested(uow, senders), await requested(uow, senders)
    taken_over = copy.deepcopy(uow.state.emails[first])
    taken_over.fail("SMTP 550 settled by the delivery that took over", now)
    # While it is sent, its claim runs out and another delivery settles it.
    uow.state.emails[first] = taken_over

    await eventually(lambda: status(uow, second) is Status.DELIVERED)
    await senders.settling.drain(5)
    assert status(uow, first) is Status.FAILED, "the first outcome stands"
    assert [a.target for a in audits(uow)] == [f"email:{second}"]


async def test_an_email_whose_sender_died_is_swept_once_its_claim_has_run_out(
    uow: EmailsUoW,
    senders: EmailService,
    gateway: GatewayStandIn,
    claims: ClaimsStandIn,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with monkeypatch.context() as dying:
        # Committed, then the process dies before its senders take it.
        dying.setattr(senders.senders, "put", lambda email: None)
        email_id = await requested(uow, senders)
    assert await senders.sweep() == 0, "its claim still holds"
    assert gateway.sent == []

    claims.claimed_until[email_id] = now
    assert await senders.sweep() == 1
    await eventually(lambda: status(uow, email_id) is Status.DELIVERED)
    assert [s.id for s in gateway.sent] == [email_id]
    assert await senders.sweep() == 0


async def test_emails_stored_while_the_senders_are_behind_take_the_delivery_queue(
    uow: EmailsUoW, emails: EmailService, gateway: GatewayStandIn, claims: ClaimsStandIn
) -> None:
    assert not emails.senders.accepts(), "not started"
    email_id = await requested(uow, emails)
    assert uow.events(DeliveryDue) == [DeliveryDue(email_id=email_id)]
    assert email_id not in claims.claimed_until


# --- claims: an email is sent only by the holder of a claim that lasts the send -----------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(now: datetime) -> Clock:
    return Clock(now)


@pytest.fixture
async def one_sender(
    uow: EmailsUoW, gateway: GatewayStandIn, claims: ClaimsStandIn, clock: Clock
) -> AsyncIterator[EmailService]:
    """The service with one sender running, on a clock the test moves."""
    emails = EmailService(
        uow,
        Templates("https://app.example.com"),
        claims,
        gateway,
        sender="Platform <no-reply@example.com>",
        sales_email=SALES,
        claim_for=timedelta(seconds=60),
        senders=1,
        clock=clock,
    )
    await emails.senders.start()
    yield emails
    await emails.senders.stop()
    await emails.settling.drain(5)


async def test_an_email_whose_claim_ran_out_while_it_waited_is_sent_once_by_the_new_holder(
    uow: EmailsUoW,
    one_sender: EmailService,
    gateway: GatewayStandIn,
    claims: ClaimsStandIn,
    clock: Clock,
) -> None:
    email_id = await requested(uow, one_sender)
    first_claim = claims.claimed_by[email_id]
    # Still in the sender's hands (nothing here lets it run) when its claim runs out, and
    # the sweep claims it again.
    clock.now += timedelta(seconds=61)
    assert await one_sender.sweep() == 1
    assert gateway.sent == [] and one_sender.senders.in_hand == 2, "both wait, none sent yet"
    assert claims.claimed_by[email_id] != first_claim

    await eventually(lambda: status(uow, email_id) is Status.DELIVERED)
    await one_sender.settling.drain(5)
    assert [s.id for s in gateway.sent] == [email_id], "sent once, by the sweep's claim"
    assert [a.target for a in audits(uow)] == [f"email:{email_id}"]


async def test_an_email_near_the_end_of_its_claim_is_sent_once_its_claim_is_renewed(
    uow: EmailsUoW,
    one_sender: EmailService,
    gateway: GatewayStandIn,
    claims: ClaimsStandIn,
    clock: Clock,
) -> None:
    email_id = await requested(uow, one_sender)
    renewed_at = clock.now = clock.now + timedelta(seconds=55)
    seen: list[datetime] = []

    async def sending(email: Outgoing) -> None:
        seen.append(claims.claimed_until[email.id])
        gateway.sent.append(email)

    gateway.send = sending  # type: ignore[method-assign]
    await eventually(lambda: status(uow, email_id) is Status.DELIVERED)
    assert seen == [renewed_at + timedelta(seconds=60)], "renewed before it was sent"
    assert [s.id for s in gateway.sent] == [email_id]


def test_a_claim_shorter_than_a_send_and_its_settling_is_refused(
    uow: EmailsUoW, gateway: GatewayStandIn, claims: ClaimsStandIn
) -> None:
    with pytest.raises(ValueError, match="would run out"):
        EmailService(
            uow,
            Templates("https://app.example.com"),
            claims,
            gateway,
            sender="Platform <no-reply@example.com>",
            sales_email=SALES,
            claim_for=timedelta(seconds=5),
        )


# --- settling -----------------------------------------------------------------------------------


async def test_a_settle_that_fails_once_is_retried_and_records_every_outcome_once(
    uow: EmailsUoW,
    senders: EmailService,
    gateway: GatewayStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = uow.atomically
    failures: list[Exception] = []

    async def failing_once(work: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real(work)

    monkeypatch.setattr(uow, "atomically", failing_once)
    ids = [await requested(uow, senders, tenant=f"org-{n}") for n in range(3)]
    # The next transaction, the batch's settle (the senders run from the next await on).
    failures.append(ConnectionError("MongoDB briefly away"))

    await eventually(lambda: all(status(uow, i) is Status.DELIVERED for i in ids))
    await senders.settling.drain(5)
    assert failures == [], "the settle failed once"
    assert sorted(s.id for s in gateway.sent) == sorted(ids)
    assert sorted(a.target for a in audits(uow)) == sorted(f"email:{i}" for i in ids)
    # Nothing left for the sweep to send again, even once every claim has run out.
    assert not any(i in uow.state.claimed_until for i in ids)


async def test_settling_one_by_one_goes_on_past_an_email_that_cannot_be_settled(
    uow: EmailsUoW,
    senders: EmailService,
    gateway: GatewayStandIn,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    taken_over = await requested(uow, senders, tenant="org-a")
    broken = await requested(uow, senders, tenant="org-broken")
    fine = await requested(uow, senders, tenant="org-c")
    # One email was settled by another delivery: the batch is settled one by one...
    settled = copy.deepcopy(uow.state.emails[taken_over])
    settled.fail("SMTP 550 settled by the delivery that took over", now)
    uow.state.emails[taken_over] = settled
    # ... and one of the others cannot be (its every transaction fails).
    real = uow.run

    async def failing_for_one(work: Any, *, tenant_id: str | None, **kw: Any) -> Any:
        if tenant_id == "org-broken":
            raise ConnectionError("cannot settle this one")
        return await real(work, tenant_id=tenant_id, **kw)

    monkeypatch.setattr(uow, "run", failing_for_one)

    await eventually(lambda: status(uow, fine) is Status.DELIVERED, timeout=10)
    await senders.settling.drain(10)
    assert status(uow, broken) is Status.PENDING, "left to the sweep"
    assert status(uow, taken_over) is Status.FAILED, "the first outcome stands"
    assert [a.target for a in audits(uow)] == [f"email:{fine}"]


async def test_a_server_refusing_our_login_or_sender_fails_no_email(
    uow: EmailsUoW, senders: EmailService, gateway: GatewayStandIn
) -> None:
    gateway.failures = [ConfigurationFailure("SMTP 535 authentication failed (at AUTH)")]
    email_id = await requested(uow, senders)

    await eventually(lambda: uow.events(DeliveryDue))
    assert status(uow, email_id) is Status.PENDING, "waits in the delivery queue"
    assert audits(uow) == []
    await deliver(uow, senders, email_id)
    assert status(uow, email_id) is Status.DELIVERED
