"""Emails and contact requests: the rules, with no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chassis.aggregate import Aggregate
from chassis.errors import Conflict


class Status(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class EmailSettled(Conflict):
    """The email was delivered or failed already: it is never sent again."""


@dataclass(frozen=True)
class Content:
    """An email as rendered from its template."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Body:
    text: str
    html: str


@dataclass(frozen=True)
class Claim:
    """A sender's hold on a pending email until `until`. Each claim has its own `token`: a
    later claim on the same email (the sweep's, another delivery's) replaces it, so only
    the holder of the current one can renew it."""

    token: str
    until: datetime

    @classmethod
    def new(cls, until: datetime) -> Claim:
        return cls(uuid.uuid4().hex, until)


@dataclass(frozen=True)
class EmailQueued:
    email_id: str


@dataclass(frozen=True)
class EmailDelivered:
    email_id: str
    template: str


@dataclass(frozen=True)
class EmailFailed:
    email_id: str
    template: str
    reason: str


@dataclass
class Email(Aggregate):
    # The id of the event that asked for it: a redelivered request names the same email.
    id: str
    tenant_id: str | None
    to: str
    to_name: str | None
    template: str
    tags: tuple[str, ...]
    subject: str
    # Dropped once the email is settled: its links carry single-use secrets.
    body: Body | None
    status: Status
    requested_at: datetime
    delivered_at: datetime | None = None
    failed_at: datetime | None = None
    failure: str | None = None

    @classmethod
    def request(
        cls,
        email_id: str,
        tenant_id: str | None,
        to: str,
        to_name: str | None,
        template: str,
        tags: tuple[str, ...],
        content: Content,
        now: datetime,
        *,
        handed_over: bool = False,
    ) -> Email:
        """A pending email; queued for delivery unless `handed_over` to a sender in this
        process (which queues it itself if it cannot send it)."""
        body = Body(content.text, content.html)
        email = cls(
            email_id,
            tenant_id,
            to,
            to_name,
            template,
            tags,
            content.subject,
            body,
            Status.PENDING,
            now,
        )
        if not handed_over:
            email.queue()
        return email

    def queue(self) -> None:
        """Leave the email to the service's delivery queue: its sending, or, once it has
        failed, the dead letter that reports it."""
        self.record(EmailQueued(self.id))

    def deliver(self, now: datetime) -> None:
        self._require_pending()
        self.status = Status.DELIVERED
        self.delivered_at = now
        self.body = None
        self.record(EmailDelivered(self.id, self.template))

    def fail(self, reason: str, now: datetime) -> None:
        self._require_pending()
        self.status = Status.FAILED
        self.failed_at = now
        self.failure = reason
        self.body = None
        self.record(EmailFailed(self.id, self.template, reason))

    def _require_pending(self) -> None:
        if self.status is not Status.PENDING:
            raise EmailSettled(f"email {self.id} is {self.status} already")


@dataclass(frozen=True)
class Claimed:
    """A pending email and the claim its sender holds on it."""

    email: Email
    claim: Claim


@dataclass(frozen=True)
class ContactRequestReceived:
    request_id: str


@dataclass
class ContactRequest(Aggregate):
    """A prospect's request to be contacted by the sales team, as they sent it."""

    id: str
    email: str
    company: str
    size: str | None
    message: str
    received_at: datetime

    @classmethod
    def receive(
        cls, email: str, company: str, size: str | None, message: str, now: datetime
    ) -> ContactRequest:
        request = cls(uuid.uuid4().hex, email, company, size, message, now)
        request.record(ContactRequestReceived(request.id))
        return request
