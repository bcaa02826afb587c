"""Use cases of the emails service; what its events tell others; the ports it needs.

An email is stored pending in the transaction that records its request (the inbox's, for an
`EmailRequested`), claimed for a while by this process's senders, and handed to them from
memory once committed (`chassis.handover`): a sender sends it through the gateway, outside
any transaction, and the outcomes are settled in batches, one transaction each, with their
audit records. So a slow or failing SMTP server never holds a transaction open, and an
email that goes well costs no broker hop of its own.

Whatever does not go that way takes the service's delivery queue (`emails.delivery_due`,
through the outbox), where the chassis retries it, then dead-letters it: an email stored
while the senders are stopped or behind; one the server could not take now (down, 4xx),
whose retries wait out the outage, as one the server refused us for (a bad login or
sender); one refused for good (a 5xx to its recipient or content), recorded failed, whose
delivery is dead-lettered with the reason. What a stopped or crashed process held is swept:
once its claim runs out, the sweep hands it over again.

So an email is only ever sent by the holder of a claim that cannot run out before it is
settled. Each claim has its own token; an email that waited in a sender's hands until its
claim had less than that left (behind a slow server, say) is sent only once its sender has
renewed the claim on its token, which fails if the sweep (here or in another instance) has
claimed it since: then the new claim's holder sends it, and this sender skips it. An email
well inside its claim, as nearly all are, costs no round trip.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, ClassVar, Protocol

import structlog
from pydantic import Field
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from chassis.clock import Clock, utc_now
from chassis.handover import Handover
from chassis.logging import get_logger
from chassis.messaging.batching import Batcher
from chassis.messaging.delivery import PoisonMessage
from chassis.messaging.subscriptions import EventContext
from chassis.storage.unit_of_work import Scopes, UnitOfWork
from chassis.tasks import Tasks
from contracts import IntegrationEvent
from contracts.audits import AuditOutcome, AuditRecorded
from contracts.emails import (
    ContactSalesConfirmation,
    ContactSalesLead,
    EmailMessage,
    EmailRequested,
)
from emails.domain import (
    Claim,
    Claimed,
    ContactRequest,
    ContactRequestReceived,
    Email,
    EmailDelivered,
    EmailFailed,
    EmailQueued,
    Status,
)
from emails.gateway import EmailGateway, Outgoing, PermanentFailure, TransientFailure
from emails.rendering import Templates
from emails.repository import ContactRequestRepository, EmailChanged, EmailRepository

log = get_logger(__name__)

CONTACT_SALES_TAG = "contact-sales"
# A batch of outcomes waits this long for more: a transaction per email or two would cost
# more than the sending.
SETTLE_LINGER_SECONDS = 0.03
# A settling transaction that failed (MongoDB briefly away) is tried again this many times
# in all, a short while apart: given up, its emails would be sent again by the sweep.
SETTLE_ATTEMPTS = 4
# What a claim must still have left, beyond the longest send, for its email to be settled
# before it runs out: the linger and the settling transaction's tries.
SETTLE_MARGIN = timedelta(seconds=10)


class DeliveryDue(IntegrationEvent):
    """The service's own event: send this email. It travels through the service's outbox to
    its own queue (`emails.delivery_due`); no other service reads it."""

    event_type: ClassVar[str] = "emails.delivery_due"

    email_id: str = Field(min_length=1, max_length=100)


class EmailBeingSent(Exception):
    """Another delivery holds a live claim on the email: try again once it has ended."""


class Claims(Protocol):
    """Claims on pending emails, taken outside any transaction (see MongoClaims)."""

    async def claim(self, email_id: str, now: datetime, until: datetime) -> Claimed | None: ...

    async def claim_left(self, now: datetime, until: datetime) -> Claimed | None: ...

    async def renew(self, email_id: str, claim: Claim) -> bool: ...

    async def release(self, email_id: str, claim: Claim, error: str) -> None: ...

    async def get(self, email_id: str) -> Email | None: ...


class EmailsTransaction(Protocol):
    @property
    def emails(self) -> EmailRepository: ...

    @property
    def contact_requests(self) -> ContactRequestRepository: ...

    def after_commit(self, callback: Callable[[], None]) -> None: ...


@dataclass(frozen=True)
class Sent:
    """An email sent or refused, to be settled, with the log context of its request."""

    email: Email
    context: dict[str, Any]


class EmailService:
    def __init__(
        self,
        uow: UnitOfWork[EmailsTransaction],
        templates: Templates,
        claims: Claims,
        gateway: EmailGateway,
        *,
        sender: str,
        sales_email: str,
        claim_for: timedelta = timedelta(seconds=60),
        senders: int = 4,
        in_hand: int = 1000,
        settle_batch: int = 100,
        clock: Clock = utc_now,
    ) -> None:
        """`senders` send handed-over emails side by side (one per SMTP connection), holding
        at most `in_hand` emails; outcomes are settled up to `settle_batch` a transaction.
        A claim lasts `claim_for`, longer than sending and settling an email may take."""
        # A sender renews a claim with less than this left before sending its email.
        self._hold_for = timedelta(seconds=gateway.longest_send) + SETTLE_MARGIN
        if claim_for <= self._hold_for:
            raise ValueError(
                f"a delivery claim of {claim_for} would run out while an email is sent and "
                f"settled (up to {self._hold_for}): raise DELIVERY_CLAIM_SECONDS, or lower "
                "the gateway's attempts or timeout"
            )
        self._uow = uow
        self._templates = templates
        self._claims = claims
        self._gateway = gateway
        self._sender = sender
        self._sales_email = sales_email
        self._claim_for = claim_for
        self._clock = clock
        self.senders: Handover[Claimed] = Handover(
            self._send, workers=senders, limit=in_hand, name="emails.senders"
        )
        # The settling transactions in flight; the service waits for them when it stops.
        self.settling = Tasks()
        self._settler = Batcher(
            self._settle_sent,
            max_size=settle_batch,
            linger_seconds=SETTLE_LINGER_SECONDS,
            tasks=self.settling,
        )

    async def email_requested(
        self, tx: EmailsTransaction, event: EmailRequested, context: EventContext
    ) -> None:
        """Store the email, pending; the envelope's id is the email's."""
        claim = self._hand_over_claim()
        email = self._compose(
            context.event_id,
            context.tenant_id,
            event.to,
            event.to_name,
            event.message,
            event.tags,
            handed_over=claim is not None,
        )

        def stored(new: bool) -> None:
            if not new:
                log.info("email.already_requested", email_id=email.id)
            elif claim is not None:
                tx.after_commit(partial(self.senders.put, Claimed(email, claim)))

        tx.emails.add_new(email, claim, stored)

    async def contact_sales(
        self, email: str, company: str, size: str | None, message: str
    ) -> ContactRequest:
        """Keep the prospect's request; email the sales team and confirm to the prospect,
        all in one transaction."""
        request = ContactRequest.receive(email, company, size, message, self._clock())
        tags = [CONTACT_SALES_TAG]
        lead_message = ContactSalesLead(email=email, company=company, size=size, message=message)
        confirmation_message = ContactSalesConfirmation(company=company)

        async def work(tx: EmailsTransaction) -> None:
            await tx.contact_requests.add(request)
            for to, sent in ((self._sales_email, lead_message), (email, confirmation_message)):
                claim = self._hand_over_claim()
                outgoing = self._compose(
                    uuid.uuid4().hex, None, to, None, sent, tags, claim is not None
                )
                await tx.emails.add(outgoing, claim)
                if claim is not None:
                    tx.after_commit(partial(self.senders.put, Claimed(outgoing, claim)))

        await self._uow.run(work, tenant_id=None)
        return request

    async def deliver(self, event: DeliveryDue, _: EventContext) -> None:
        """Send the email once: claimed first, so no other delivery sends it meanwhile;
        recorded delivered right after the server took it, or failed with the reason the
        server gave for refusing it (and then dead-lettered with that reason). Sent at once,
        within the claim just taken."""
        now = self._clock()
        claimed = await self._claims.claim(event.email_id, now, now + self._claim_for)
        if claimed is None:
            await self._not_claimed(event.email_id)
            return
        email = claimed.email
        try:
            await self._gateway.send(Outgoing.of(email, self._sender))
        except PermanentFailure as exc:
            email.fail(str(exc), self._clock())
            await self._settle(email)
            raise PoisonMessage(f"email {email.id} refused: {exc}") from exc
        except Exception as exc:
            # The next attempt (the chassis' retry queue) may take it at once.
            await self._claims.release(email.id, claimed.claim, repr(exc))
            if isinstance(exc, TransientFailure):
                log.warning("email.delivery_postponed", email_id=email.id, error=str(exc))
            raise
        email.deliver(self._clock())
        await self._settle(email)

    async def sweep(self) -> int:
        """Hand over again the emails a stopped or crashed process held and never settled,
        once their claim has run out; how many."""
        swept = 0
        while self.senders.accepts():
            now = self._clock()
            claimed = await self._claims.claim_left(now, now + self._claim_for)
            if claimed is None:
                break
            log.info("email.swept", email_id=claimed.email.id)
            self.senders.put(claimed)
            swept += 1
        return swept

    async def _send(self, claimed: Claimed) -> None:
        """Send a handed-over email, held by this sender's claim; its outcome is settled
        in the next batch. What cannot go now takes the delivery queue."""
        if not await self._hold(claimed):
            return
        email = claimed.email
        try:
            await self._gateway.send(Outgoing.of(email, self._sender))
        except PermanentFailure as exc:
            email.fail(str(exc), self._clock())
            # Its delivery is dead-lettered with the reason, as the queue's own refusals are.
            email.queue()
        except Exception as exc:
            log.warning("email.delivery_postponed", email_id=email.id, error=str(exc))
            await self._requeue(email, repr(exc))
            return
        else:
            email.deliver(self._clock())
        self._settler.add(Sent(email, structlog.contextvars.get_contextvars()))

    async def _settle_sent(self, batch: list[Sent]) -> None:
        """One transaction for a batch of outcomes, each in the scope of its own request
        (its tenant, its correlation id on the audit record); if some email was settled by
        another delivery meanwhile (rare), each on its own."""

        async def work(tx: Scopes[EmailsTransaction]) -> None:
            scopes = []
            for sent in batch:
                with structlog.contextvars.bound_contextvars(**sent.context):
                    scopes.append(tx.scope(sent.email.tenant_id, None))
            for sent, scope in zip(batch, scopes, strict=True):
                scope.emails.settle_later(sent.email)
            await scopes[0].emails.all_settled(len(batch))

        try:
            async for attempt in _settle_retrying():
                with attempt:
                    await self._uow.atomically(work)
        except EmailChanged:
            for sent in batch:
                with structlog.contextvars.bound_contextvars(**sent.context):
                    try:
                        await self._settle(sent.email)
                    except Exception as exc:
                        # Sent but not recorded: once its claim runs out, the sweep sends
                        # it again.
                        log.error("email.settle_failed", email_id=sent.email.id, error=repr(exc))
        except Exception as exc:
            ids = [sent.email.id for sent in batch]
            log.error("emails.settle_failed", error=repr(exc), email_ids=ids)

    async def _hold(self, claimed: Claimed) -> bool:
        """Whether this sender holds the email for as long as sending and settling it may
        take: at once if its claim has that long left; else once renewed on its token,
        unless another claim has replaced it (whose holder sends the email)."""
        now = self._clock()
        if claimed.claim.until - now >= self._hold_for:
            return True
        renewed = Claim(claimed.claim.token, now + self._claim_for)
        if await self._claims.renew(claimed.email.id, renewed):
            return True
        log.info("email.claim_taken_over", email_id=claimed.email.id)
        return False

    async def _requeue(self, email: Email, error: str) -> None:
        email.queue()

        async def work(tx: EmailsTransaction) -> None:
            await tx.emails.requeue(email, error)

        try:
            await self._uow.run(work, tenant_id=email.tenant_id)
        except EmailChanged:
            log.warning("email.settled_meanwhile", email_id=email.id)
        except Exception as exc:
            # Once its claim runs out, the sweep hands it over again.
            log.error("email.requeue_failed", email_id=email.id, error=repr(exc))

    def _hand_over_claim(self) -> Claim | None:
        """The claim to store an email under for this process's senders, if they take it."""
        return Claim.new(self._clock() + self._claim_for) if self.senders.accepts() else None

    async def _settle(self, email: Email) -> None:
        async def work(tx: EmailsTransaction) -> None:
            await tx.emails.settle(email)

        try:
            async for attempt in _settle_retrying():
                with attempt:
                    await self._uow.run(work, tenant_id=email.tenant_id)
        except EmailChanged:
            # Only when this delivery's claim ran out while it was sending and another took
            # over: the email may have gone twice, and the first outcome stands.
            log.warning("email.settled_meanwhile", email_id=email.id)

    async def _not_claimed(self, email_id: str) -> None:
        email = await self._claims.get(email_id)
        if email is None:
            raise PoisonMessage(f"there is no email {email_id}")
        if email.status is Status.DELIVERED:
            log.info("email.already_delivered", email_id=email_id)
        elif email.status is Status.FAILED:
            raise PoisonMessage(f"email {email_id} refused: {email.failure}")
        else:
            raise EmailBeingSent(f"email {email_id} is being sent by another delivery")

    def _compose(
        self,
        email_id: str,
        tenant_id: str | None,
        to: str,
        to_name: str | None,
        message: EmailMessage,
        tags: list[str],
        handed_over: bool = False,
    ) -> Email:
        return Email.request(
            email_id,
            tenant_id,
            to,
            to_name,
            message.template,
            tuple(tags),
            self._templates.render(message),
            self._clock(),
            handed_over=handed_over,
        )


def _settle_retrying() -> AsyncRetrying:
    """Retries of a settling transaction that failed, a short while apart; an email settled
    meanwhile (EmailChanged) is final."""
    return AsyncRetrying(
        stop=stop_after_attempt(SETTLE_ATTEMPTS),
        wait=wait_exponential_jitter(multiplier=0.1, max=1.0, jitter=0.1),
        retry=retry_if_not_exception_type(EmailChanged),
        before_sleep=_settle_retried,
        reraise=True,
    )


def _settle_retried(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning("emails.settle_retried", attempt=state.attempt_number, error=repr(error))


def integration_events(event: object) -> Iterator[IntegrationEvent]:
    """What is published of each thing that happens here (the delivery is the service's own)."""
    match event:
        case EmailQueued(email_id):
            yield DeliveryDue(email_id=email_id)
        case EmailDelivered(email_id, template):
            yield AuditRecorded(
                action="emails.email_delivered", target=f"email:{email_id}", detail=template
            )
        case EmailFailed(email_id, template, reason):
            yield AuditRecorded(
                action="emails.email_failed",
                target=f"email:{email_id}",
                outcome=AuditOutcome.FAILED,
                detail=f"{template}: {reason}"[:1000],
            )
        case ContactRequestReceived(request_id):
            yield AuditRecorded(
                action="emails.contact_request_received", target=f"contact_request:{request_id}"
            )
        case _:
            raise TypeError(f"no integration event for {event!r}")
