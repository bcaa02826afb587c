"""Fixtures of the emails tests: a real SMTP server on the loopback (the mailbox simulator,
aiosmtpd), a Postmark API on the loopback (the postmark simulator), and the service on the
real MongoDB and RabbitMQ; and the use cases on an in-memory unit of work with a gateway
stand-in."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import aiohttp
import pytest

from chassis.messaging.delivery import DEAD_REASON_HEADER
from chassis.storage.documents import Document
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import Recording
from emails.domain import Claim, Claimed, ContactRequest, Email
from emails.gateway import Outgoing
from emails.main import EmailsSettings, create_app
from emails.repository import EMAILS, EmailChanged
from emails.service import integration_events
from simulators.mailbox import Mailbox
from simulators.postmark import Simulator as PostmarkSimulator
from testkit.fixtures import TestInfra
from testkit.memory import InMemoryUnitOfWork
from testkit.rabbit import Rabbit
from testkit.waiting import eventually
from testkit.web import serving

WEBSITE = "https://app.example.com"
SALES = "sales-team@example.com"
# The mailbox refuses this recipient for good (550), as a server refuses an unknown mailbox.
REFUSED = "nobody@refused.example.com"
DELIVERY_QUEUE = "emails.delivery_due"


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mailbox]:
    box = Mailbox(tmp_path_factory.mktemp("mail"), refuse=[REFUSED])
    box.start()
    yield box
    box.stop()


def received(mailbox: Mailbox, to: str) -> list[EmailMessage]:
    """The messages the SMTP server kept for `to`."""
    return [m for m in mailbox.messages() if to in str(m["To"])]


POSTMARK_TOKEN = "postmark-server-token-for-tests"


@pytest.fixture(scope="module")
async def postmark() -> AsyncIterator[str]:
    """A Postmark API on the loopback, taking POSTMARK_TOKEN, refusing REFUSED as inactive."""
    simulator = PostmarkSimulator(frozenset([POSTMARK_TOKEN]), frozenset([REFUSED]))
    async with serving(simulator.app()) as url:
        yield url


async def postmark_received(url: str) -> dict[str, Any]:
    """What the Postmark simulator was asked (`requests`) and kept (`emails`), as it says."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/_simulator/emails") as r:
        r.raise_for_status()
        held: dict[str, Any] = await r.json()
        return held


async def postmark_fails(url: str, status: int, times: int) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/_simulator/fail", json={"status": status, "times": times}) as r,
    ):
        r.raise_for_status()


@dataclass(frozen=True)
class Served:
    url: str
    settings: EmailsSettings


# Module scope: left running, an instance would consume the next module's queues.
@pytest.fixture(scope="module")
async def service(test_infra: TestInfra, mailbox: Mailbox) -> AsyncIterator[Served]:
    settings = EmailsSettings(
        **test_infra.env(
            "emails",
            smtp_port=mailbox.port,
            website_url=WEBSITE,
            sales_email=SALES,
            retry_delay_ms=200,
            max_delivery_attempts=10,
            smtp_attempts=2,
            delivery_sweep_seconds=0.2,
        )
    )
    async with serving(create_app(settings)) as url:
        yield Served(url, settings)


@pytest.fixture
async def mongo(service: Served) -> AsyncIterator[Mongo]:
    """The emails service's own database, to look into."""
    mongo = Mongo.of(service.settings)
    yield mongo
    await mongo.stop()


# --- in memory --------------------------------------------------------------------------------


@dataclass
class Ledger:
    emails: dict[str, Email] = field(default_factory=dict)
    contact_requests: dict[str, ContactRequest] = field(default_factory=dict)
    # As the email documents keep them: the claim on a pending email (until when, whose
    # token), whether its delivery is the queue's, what went wrong last.
    claimed_until: dict[str, datetime] = field(default_factory=dict)
    claimed_by: dict[str, str] = field(default_factory=dict)
    queued: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)
    # Settles sent in this transaction that found their email pending (see all_settled).
    settled_now: int = 0


class InMemoryEmails:
    def __init__(self, ledger: Ledger, recording: Recording) -> None:
        self._ledger = ledger
        self._recording = recording

    def add_new(self, email: Email, claim: Claim | None, stored: Callable[[bool], None]) -> None:
        new = email.id not in self._ledger.emails
        if new:
            self._store(email, claim)
        stored(new)

    async def add(self, email: Email, claim: Claim | None) -> None:
        self._store(email, claim)

    def _store(self, email: Email, claim: Claim | None) -> None:
        # A copy, as the database keeps it: the senders change the object they are handed.
        self._ledger.emails[email.id] = copy.deepcopy(email)
        if claim is None:
            self._ledger.queued.add(email.id)
        else:
            self._ledger.claimed_until[email.id] = claim.until
            self._ledger.claimed_by[email.id] = claim.token
        self._recording.track(email)

    async def settle(self, email: Email) -> None:
        if not self._settled(email):
            raise EmailChanged(f"email {email.id} is no longer pending")

    def settle_later(self, email: Email) -> None:
        self._ledger.settled_now += self._settled(email)

    async def all_settled(self, count: int) -> None:
        settled, self._ledger.settled_now = self._ledger.settled_now, 0
        if settled != count:
            raise EmailChanged(f"{count - settled} of {count} emails are no longer pending")

    def _settled(self, email: Email) -> bool:
        stored = self._ledger.emails.get(email.id)
        if stored is None or stored.status != "pending":
            return False
        self._ledger.emails[email.id] = copy.deepcopy(email)
        self._ledger.claimed_until.pop(email.id, None)
        self._ledger.claimed_by.pop(email.id, None)
        self._recording.track(email)
        return True

    async def requeue(self, email: Email, error: str) -> None:
        stored = self._ledger.emails.get(email.id)
        if stored is None or stored.status != "pending":
            raise EmailChanged(f"email {email.id} is no longer pending")
        self._ledger.claimed_until.pop(email.id, None)
        self._ledger.claimed_by.pop(email.id, None)
        self._ledger.queued.add(email.id)
        self._ledger.errors[email.id] = error
        self._recording.track(email)


class InMemoryContactRequests:
    def __init__(self, ledger: Ledger, recording: Recording) -> None:
        self._ledger = ledger
        self._recording = recording

    async def add(self, request: ContactRequest) -> None:
        self._ledger.contact_requests[request.id] = request
        self._recording.track(request)


class InMemoryEmailsTransaction:
    def __init__(self, ledger: Ledger, recording: Recording) -> None:
        self.emails = InMemoryEmails(ledger, recording)
        self.contact_requests = InMemoryContactRequests(ledger, recording)
        self.after_commit = recording.after_commit


EmailsUoW = InMemoryUnitOfWork[Ledger, InMemoryEmailsTransaction]


@pytest.fixture
def uow() -> EmailsUoW:
    return InMemoryUnitOfWork(Ledger(), InMemoryEmailsTransaction, integration_events)


class GatewayStandIn:
    """The email gateway, told how to answer: each send takes the next failure, if any."""

    longest_send = 1.0

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.failures: list[Exception] = []

    async def start(self) -> None:
        pass

    async def send(self, email: Outgoing) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(email)

    async def close(self) -> None:
        pass


class ClaimsStandIn:
    """Claims over the in-memory ledger, as MongoClaims takes them (outside any run)."""

    def __init__(self, uow: EmailsUoW) -> None:
        self._uow = uow

    @property
    def claimed_until(self) -> dict[str, datetime]:
        return self._uow.state.claimed_until

    @property
    def errors(self) -> dict[str, str]:
        return self._uow.state.errors

    @property
    def claimed_by(self) -> dict[str, str]:
        return self._uow.state.claimed_by

    async def claim(self, email_id: str, now: datetime, until: datetime) -> Claimed | None:
        email = self._uow.state.emails.get(email_id)
        held = self.claimed_until.get(email_id)
        if email is None or email.status != "pending" or (held is not None and held > now):
            return None
        return self._take(email_id, until)

    async def claim_left(self, now: datetime, until: datetime) -> Claimed | None:
        for email_id, email in self._uow.state.emails.items():
            held = self.claimed_until.get(email_id)
            left = held is not None and held <= now and email_id not in self._uow.state.queued
            if email.status == "pending" and left:
                return self._take(email_id, until)
        return None

    def _take(self, email_id: str, until: datetime) -> Claimed:
        claim = Claim.new(until)
        self.claimed_until[email_id] = until
        self.claimed_by[email_id] = claim.token
        # As read from the database: not the stored object.
        return Claimed(copy.deepcopy(self._uow.state.emails[email_id]), claim)

    def _holds(self, email_id: str, claim: Claim) -> bool:
        email = self._uow.state.emails.get(email_id)
        pending = email is not None and email.status == "pending"
        return pending and self.claimed_by.get(email_id) == claim.token

    async def renew(self, email_id: str, claim: Claim) -> bool:
        if not self._holds(email_id, claim):
            return False
        self.claimed_until[email_id] = claim.until
        return True

    async def release(self, email_id: str, claim: Claim, error: str) -> None:
        if self._holds(email_id, claim):
            self.claimed_until.pop(email_id, None)
            self.claimed_by.pop(email_id, None)
            self.errors[email_id] = error

    async def get(self, email_id: str) -> Email | None:
        return self._uow.state.emails.get(email_id)


async def refused_for_good(mongo: Mongo, rabbit: Rabbit, email_id: str) -> tuple[Document, str]:
    """The email, once recorded failed after a single attempt, and the reason its dead letter
    carries on the delivery queue's dead-letter queue."""
    failed = await eventually(
        lambda: mongo.raw(EMAILS).find_one({"_id": email_id, "status": "failed"}), timeout=10
    )
    assert failed["attempts"] == 1, "a permanent failure is not retried"

    async def dead() -> list[Any]:
        letters = await rabbit.take(f"{DELIVERY_QUEUE}.dlq")
        return [m for m in letters if email_id in m.body.decode()]

    [letter] = await eventually(dead, timeout=10)
    return failed, str(letter.headers[DEAD_REASON_HEADER])
