"""The emails service configured to send through Postmark (EMAIL_GATEWAY=postmark), on the real
MongoDB and RabbitMQ, against the Postmark simulator over HTTP: a requested email arrives
once; a recipient Postmark marks inactive is recorded failed and dead-lettered with the
reason. And the settings are checked at start: postmark without a token, or with a localhost
sender, does not start."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError

from chassis.storage.mongo import Mongo
from contracts.emails import EmailRequested, PasswordReset
from emails.main import EmailsSettings, create_app
from emails.repository import EMAILS
from testkit.fixtures import EventProducer, TestInfra
from testkit.rabbit import Rabbit
from testkit.waiting import eventually
from testkit.web import serving

from .conftest import (
    POSTMARK_TOKEN,
    REFUSED,
    WEBSITE,
    Served,
    postmark_received,
    refused_for_good,
)

TOKEN = "tok_" + "c3D4" * 8


# Module scope: left running, an instance would consume the next module's queues.
@pytest.fixture(scope="module")
async def service(test_infra: TestInfra, postmark: str) -> AsyncIterator[Served]:
    settings = EmailsSettings(
        **test_infra.env(
            "emails",
            email_gateway="postmark",
            postmark_url=postmark,
            postmark_server_token=POSTMARK_TOKEN,
            # Postmark takes a sender at a real domain only (the default's is localhost).
            email_from="Platform <no-reply@example.com>",
            website_url=WEBSITE,
            retry_delay_ms=200,
            max_delivery_attempts=10,
            postmark_attempts=2,
            delivery_sweep_seconds=0.2,
        )
    )
    async with serving(create_app(settings)) as url:
        yield Served(url, settings)


async def sent_to(url: str, to: str) -> list[dict[str, Any]]:
    return [e for e in (await postmark_received(url))["emails"] if to in str(e["To"])]


async def test_a_requested_email_arrives_once_at_postmark(
    service: Served, producer: EventProducer, postmark: str, mongo: Mongo
) -> None:
    to = f"person-{uuid.uuid4().hex[:10]}@example.com"
    event = EmailRequested(to=to, message=PasswordReset(first_name="Ada", token=TOKEN))
    envelope = await producer.publish(event, tenant_id=None)
    email_id = str(envelope.id)

    await eventually(
        lambda: mongo.raw(EMAILS).find_one({"_id": email_id, "status": "delivered"}),
        timeout=10,
    )
    [kept] = await sent_to(postmark, to)
    assert f"{WEBSITE}/reset-password?token={TOKEN}" in kept["TextBody"]
    [message_id] = [h["Value"] for h in kept["Headers"] if h["Name"] == "Message-ID"]
    assert message_id.startswith(f"<{email_id}@")
    # A resend of the same request sends nothing more.
    await producer.resend(envelope)
    await asyncio.sleep(1.0)
    assert len(await sent_to(postmark, to)) == 1


async def test_an_inactive_recipient_is_recorded_failed_and_dead_lettered_with_the_reason(
    service: Served, producer: EventProducer, postmark: str, mongo: Mongo, test_infra: TestInfra
) -> None:
    async with Rabbit.connect(test_infra.amqp_url) as rabbit:
        event = EmailRequested(to=REFUSED, message=PasswordReset(first_name="No", token=TOKEN))
        envelope = await producer.publish(event, tenant_id="org-acme")
        email_id = str(envelope.id)

        failed, reason = await refused_for_good(mongo, rabbit, email_id)
        assert "ErrorCode 406" in failed["failure"]
        assert "ErrorCode 406" in reason and email_id in reason
        assert await sent_to(postmark, REFUSED) == []


def test_postmark_without_a_server_token_refuses_to_start(test_infra: TestInfra) -> None:
    with pytest.raises(ValidationError, match="POSTMARK_SERVER_TOKEN"):
        EmailsSettings(**test_infra.env("emails", email_gateway="postmark"))
    with pytest.raises(ValidationError, match="POSTMARK_SERVER_TOKEN"):
        EmailsSettings(
            **test_infra.env("emails", email_gateway="postmark", postmark_server_token=" ")
        )


def test_postmark_with_a_localhost_sender_refuses_to_start(test_infra: TestInfra) -> None:
    with pytest.raises(ValidationError, match="EMAIL_FROM"):
        EmailsSettings(
            **test_infra.env("emails", email_gateway="postmark", postmark_server_token="t")
        )
