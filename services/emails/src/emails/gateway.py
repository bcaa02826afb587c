"""The email gateway: the port deliveries go through, how an email leaves (its MIME form,
its Message-ID), what can go wrong, and the retries every adapter makes. The adapters:
`emails.smtp` (aiosmtplib) and `emails.postmark` (Postmark's HTTP email API).

A transient failure (connection refused or lost, a timeout, an SMTP 4xx, a 429 or 5xx) is
retried a few times on the spot, then reported as `TransientFailure` for the message to be
retried later. Only a refusal of the email itself (its recipient, its content) is a
`PermanentFailure`, never retried. A refusal of us (a bad password or token, a sender the
mail system does not take) is a `ConfigurationFailure`: logged as such, and the email waits
for it to be fixed.

A send never takes longer than the gateway's `longest_send` (its attempts are cut there): a
sender holding a claim on an email counts on it (see `EmailService`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr, make_msgid
from typing import Protocol

from tenacity import AsyncRetrying

from chassis.retry import outbound_retry
from emails.domain import Body, Email


class DeliveryFailure(Exception):
    pass


class TransientFailure(DeliveryFailure):
    """Trying again later may work (the server is down, busy, or said 4xx)."""


class PermanentFailure(DeliveryFailure):
    """The server refused the email for good (5xx to its recipient or its content)."""


class ConfigurationFailure(TransientFailure):
    """The mail system refused us, not the email (a bad token, a sender it does not know):
    transient, so the email waits for the configuration to be fixed instead of being lost;
    not retried on the spot, where it could not heal."""


@dataclass(frozen=True)
class Outgoing:
    """An email as it leaves: who from, to whom, what."""

    id: str
    sender: str
    to: str
    to_name: str | None
    tags: tuple[str, ...]
    subject: str
    body: Body

    @classmethod
    def of(cls, email: Email, sender: str) -> Outgoing:
        if email.body is None:
            raise ValueError(f"email {email.id} has no body to send")
        return cls(email.id, sender, email.to, email.to_name, email.tags, email.subject, email.body)


class EmailGateway(Protocol):
    @property
    def longest_send(self) -> float:
        """Seconds one `send` may take at most, its retries included."""
        ...

    async def start(self) -> None: ...

    async def send(self, email: Outgoing) -> None:
        """Hand the email to the mail system; TransientFailure or PermanentFailure if not."""
        ...

    async def close(self) -> None: ...


# Bodies quoted-printable: a person opening the message source still reads its links.
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP


def mime(email: Outgoing, domain: str) -> Message:
    """The email as a MIME message: text and HTML alternatives, its id in the Message-ID.

    Built with the compat32 classes: EmailMessage's header registry, which parses every
    header set, took some 2 ms of CPU per email, more than all the rest of its delivery.
    """
    message = MIMEMultipart("alternative")
    message["From"] = email.sender
    name = " ".join((email.to_name or "").split())
    message["To"] = formataddr((name, email.to), charset="utf-8") if name else email.to
    subject = email.subject
    message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8").encode()
    # The same id on every attempt: a mail system that deduplicates by it drops a resend.
    message["Message-ID"] = f"<{email.id}@{domain}>"
    message["Date"] = format_datetime(datetime.now(UTC))
    if email.tags:
        # Mailpit (docker-compose) shows these as tags.
        message["X-Tags"] = ", ".join(email.tags)
    message.attach(_text("plain", email.body.text))
    message.attach(_text("html", email.body.html))
    return message


def _text(subtype: str, content: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(content, _UTF8)
    return part


def our_domain(configured: str | None) -> str:
    """The domain of our Message-IDs: the configured one, else this host's name."""
    return configured or make_msgid().rsplit("@", 1)[1].rstrip(">")


def retrying(attempts: int) -> AsyncRetrying:
    """Every adapter's retries of a transient failure, a few on the spot; a refusal of us
    waits for its configuration to be fixed instead."""
    return AsyncRetrying(
        **outbound_retry(attempts, also=(TransientFailure,), never=(ConfigurationFailure,))
    )
