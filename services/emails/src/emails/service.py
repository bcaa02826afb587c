"""Use cases of the emails service; what its events tell others; the ports it needs.

An email is stored pending in the transaction that records its request (the inbox's, for an
`EmailRequested`); that transaction also puts a `DeliveryDue` of the service's own in the
outbox. Its handler, outside any transaction, claims the email, sends it through the gateway
and records the outcome: so a slow or failing SMTP server never holds a transaction open,
and a delivery is retried, then dead-lettered, by the chassis' own queues.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import ClassVar, Protocol

from pydantic import Field

from chassis.clock import Clock, utc_now
from chassis.logging import get_logger
from chassis.messaging.delivery import PoisonMessage
from chassis.messaging.subscriptions import EventContext
from chassis.storage.unit_of_work import UnitOfWork
from contracts import IntegrationEvent
from contracts.audits import AuditOutcome, AuditRecorded
from contracts.emails import (
    ContactSalesConfirmation,
    ContactSalesLead,
    EmailMessage,
    EmailRequested,
)
from emails.domain import (
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


class DeliveryDue(IntegrationEvent):
    """The service's own event: send this email. It travels through the service's outbox to
    its own queue (`emails.delivery_due`); no other service reads it."""

    event_type: ClassVar[str] = "emails.delivery_due"

    email_id: str = Field(min_length=1, max_length=100)


class EmailBeingSent(Exception):
    """Another delivery holds a live claim on the email: try again once it has ended."""


class Claims(Protocol):
    """Claims on pending emails, taken outside any transaction (see MongoClaims)."""

    async def claim(self, email_id: str, now: datetime, until: datetime) -> Email | None: ...

    async def release(self, email_id: str, error: str) -> None: ...

    async def get(self, email_id: str) -> Email | None: ...


class EmailsTransaction(Protocol):
    @property
    def emails(self) -> EmailRepository: ...

    @property
    def contact_requests(self) -> ContactRequestRepository: ...


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
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self._templates = templates
        self._claims = claims
        self._gateway = gateway
        self._sender = sender
        self._sales_email = sales_email
        self._claim_for = claim_for
        self._clock = clock

    async def email_requested(
        self, tx: EmailsTransaction, event: EmailRequested, context: EventContext
    ) -> None:
        """Store the email, pending; the envelope's id is the email's."""
        email = self._compose(
            context.event_id, context.tenant_id, event.to, event.to_name, event.message, event.tags
        )
        if not await tx.emails.add_new(email):
            log.info("email.already_requested", email_id=email.id)

    async def contact_sales(
        self, email: str, company: str, size: str | None, message: str
    ) -> ContactRequest:
        """Keep the prospect's request; email the sales team and confirm to the prospect,
        all in one transaction."""
        request = ContactRequest.receive(email, company, size, message, self._clock())
        tags = [CONTACT_SALES_TAG]
        lead = self._compose(
            uuid.uuid4().hex,
            None,
            self._sales_email,
            None,
            ContactSalesLead(email=email, company=company, size=size, message=message),
            tags,
        )
        confirmation = self._compose(
            uuid.uuid4().hex, None, email, None, ContactSalesConfirmation(company=company), tags
        )

        async def work(tx: EmailsTransaction) -> None:
            await tx.contact_requests.add(request)
            await tx.emails.add(lead)
            await tx.emails.add(confirmation)

        await self._uow.run(work, tenant_id=None)
        return request

    async def deliver(self, event: DeliveryDue, _: EventContext) -> None:
        """Send the email once: claimed first, so no other delivery sends it meanwhile;
        recorded delivered right after the server took it, or failed with the reason the
        server gave for refusing it (and then dead-lettered with that reason)."""
        now = self._clock()
        email = await self._claims.claim(event.email_id, now, now + self._claim_for)
        if email is None:
            await self._not_claimed(event.email_id)
            return
        try:
            await self._gateway.send(Outgoing.of(email, self._sender))
        except PermanentFailure as exc:
            email.fail(str(exc), self._clock())
            await self._settle(email)
            raise PoisonMessage(f"email {email.id} refused: {exc}") from exc
        except Exception as exc:
            # The next attempt (the chassis' retry queue) may take it at once.
            await self._claims.release(email.id, repr(exc))
            if isinstance(exc, TransientFailure):
                log.warning("email.delivery_postponed", email_id=email.id, error=str(exc))
            raise
        email.deliver(self._clock())
        await self._settle(email)

    async def _settle(self, email: Email) -> None:
        async def work(tx: EmailsTransaction) -> None:
            await tx.emails.settle(email)

        try:
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
        )


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
