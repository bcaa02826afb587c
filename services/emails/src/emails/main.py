"""Composition root of the emails service: settings, wiring, run."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from email.utils import parseaddr
from typing import Literal, Self

from aiohttp import web
from pydantic import EmailStr, Field, SecretStr, model_validator

from chassis.clock import Clock, utc_now
from chassis.config import ServiceSettings
from chassis.jobs import Jobs
from chassis.logging import configure_logging
from chassis.messaging.bus import MessageBus
from chassis.parts import Check, Part
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import MongoUnitOfWork
from chassis.web.app import run, service_app
from emails import api, handlers
from emails.gateway import EmailGateway
from emails.postmark import PostmarkGateway
from emails.rendering import Templates
from emails.repository import INDEXES, EmailQueries, MongoClaims, MongoEmailsTransaction
from emails.service import EmailService, integration_events
from emails.smtp import SmtpGateway, SmtpServer

# How long stopping waits for the outcomes of sent emails to be recorded.
SETTLE_DRAIN_SECONDS = 10.0


class EmailsSettings(ServiceSettings):
    service_name: str = "emails"
    port: int = 8104
    # Where the links in emails lead (confirm registration, accept an invitation, ...).
    website_url: str = "http://localhost:8080"
    email_from: str = "Platform <no-reply@localhost>"
    sales_email: EmailStr = "sales@example.com"
    # How emails leave: an SMTP server, or Postmark's HTTP email API.
    email_gateway: Literal["smtp", "postmark"] = "smtp"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    # Open SMTP connections kept for reuse; each carries one email at a time.
    smtp_pool_size: int = Field(default=4, ge=1, le=64)
    # Tries per delivery before it waits in the retry queue (RETRY_DELAY_MS).
    smtp_attempts: int = Field(default=3, ge=1)
    postmark_url: str = Field(default="https://api.postmarkapp.com", pattern=r"^https?://")
    postmark_server_token: SecretStr | None = None
    postmark_message_stream: str = Field(default="outbound", min_length=1)
    # Connections to Postmark kept open; one sender each, as for SMTP.
    postmark_connections: int = Field(default=4, ge=1, le=64)
    postmark_attempts: int = Field(default=3, ge=1)
    postmark_timeout_seconds: float = Field(default=10.0, gt=0)
    # A delivery holds its email this long: past it, another may send it (after a crash).
    # It must outlast one send (attempts x timeout + the waits between them) and its
    # settling (10 s): the service refuses to start otherwise. A sender renews it before
    # sending an email whose claim has less than that left.
    delivery_claim_seconds: float = Field(default=60.0, gt=0)
    # Emails held in memory for this process's senders at most; beyond, they take the queue.
    delivery_in_hand: int = Field(default=1000, ge=1)
    # How often emails whose sender stopped or died, their claim run out, are handed over.
    delivery_sweep_seconds: float = Field(default=10.0, gt=0)
    # The domain of Message-IDs (<email id>@domain); by default this host's name.
    message_id_domain: str | None = None
    # A delivery waits out an SMTP server that is down for about attempts x delay (some five
    # minutes here) before it is dead-lettered, its email left pending to be redriven.
    max_delivery_attempts: int = Field(default=30, ge=1)
    retry_delay_ms: int = Field(default=10_000, ge=10)

    @model_validator(mode="after")
    def _gateway_configured(self) -> Self:
        token = self.postmark_server_token
        if self.email_gateway == "postmark" and not (token and token.get_secret_value().strip()):
            raise ValueError(
                "EMAIL_GATEWAY=postmark needs POSTMARK_SERVER_TOKEN, the API token of the "
                "Postmark server to send through"
            )
        sender_domain = parseaddr(self.email_from)[1].rpartition("@")[2].lower()
        if self.email_gateway == "postmark" and sender_domain in ("localhost", ""):
            # Postmark refuses every email from a sender it has no signature for.
            raise ValueError(
                f"EMAIL_GATEWAY=postmark needs EMAIL_FROM on a domain Postmark knows, not "
                f"{self.email_from!r}"
            )
        return self

    @property
    def gateway_connections(self) -> int:
        """Connections the chosen gateway keeps open: one sender each."""
        if self.email_gateway == "postmark":
            return self.postmark_connections
        return self.smtp_pool_size


class Gateway:
    """The email gateway as a part of the service: started (the Postmark adapter opens its
    HTTP session) before the bus delivers anything, closed when the service stops."""

    def __init__(self, gateway: EmailGateway) -> None:
        self.gateway = gateway

    async def start(self) -> None:
        await self.gateway.start()

    async def stop(self) -> None:
        await self.gateway.close()

    def checks(self) -> Mapping[str, Check]:
        return {}


class Senders:
    """The service's senders of handed-over emails, as a part: stopped before the bus, so
    the audit records of what they settle still go out with its relay."""

    def __init__(self, emails: EmailService) -> None:
        self.emails = emails

    async def start(self) -> None:
        await self.emails.senders.start()

    async def stop(self) -> None:
        await self.emails.senders.stop()
        await self.emails.settling.drain(SETTLE_DRAIN_SECONDS)

    def checks(self) -> Mapping[str, Check]:
        return {}


def smtp_gateway(settings: EmailsSettings) -> SmtpGateway:
    server = SmtpServer(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_username,
        settings.smtp_password,
        start_tls=settings.smtp_starttls,
        use_tls=settings.smtp_tls,
        timeout=settings.smtp_timeout_seconds,
    )
    return SmtpGateway(
        server,
        pool_size=settings.smtp_pool_size,
        attempts=settings.smtp_attempts,
        message_id_domain=settings.message_id_domain,
    )


def email_gateway(settings: EmailsSettings) -> EmailGateway:
    if settings.email_gateway == "smtp":
        return smtp_gateway(settings)
    token = settings.postmark_server_token
    assert token is not None  # checked by the settings
    return PostmarkGateway(
        settings.postmark_url,
        token.get_secret_value(),
        message_stream=settings.postmark_message_stream,
        connections=settings.postmark_connections,
        attempts=settings.postmark_attempts,
        timeout=settings.postmark_timeout_seconds,
        message_id_domain=settings.message_id_domain,
    )


def create_app(
    settings: EmailsSettings, clock: Clock = utc_now, gateway: EmailGateway | None = None
) -> web.Application:
    mongo = Mongo.of(settings, INDEXES)
    bus = MessageBus(settings, mongo)
    uow = MongoUnitOfWork(mongo, MongoEmailsTransaction, integration_events, bus.relay)
    sending = Gateway(gateway or email_gateway(settings))
    emails = EmailService(
        uow,
        Templates(settings.website_url),
        MongoClaims(mongo),
        sending.gateway,
        sender=settings.email_from,
        sales_email=settings.sales_email,
        claim_for=timedelta(seconds=settings.delivery_claim_seconds),
        # One sender per pooled connection.
        senders=settings.gateway_connections,
        in_hand=settings.delivery_in_hand,
        clock=clock,
    )
    handlers.subscribe(bus.subscriptions(uow), emails)
    jobs = Jobs()
    jobs.every(settings.delivery_sweep_seconds, "emails.sweep", emails.sweep)
    # Stopped in reverse: the senders finish before the bus, the gateway after both, so
    # deliveries in flight finish on their connections.
    parts: list[Part] = [mongo, sending, bus, Senders(emails), jobs]
    return service_app(settings, api.routes(emails, EmailQueries(mongo)), parts)


def main() -> None:
    settings = EmailsSettings()
    configure_logging(settings.service_name, settings.log_level)
    run(create_app(settings), settings)
