"""The Postmark gateway against the Postmark simulator over real HTTP on the loopback: an email
sent once with Postmark's fields and our Message-ID; an inactive recipient or an invalid
request a permanent failure; 429 and 503 retried, then delivered; a bad token a
configuration failure, transient and not retried on the spot."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from emails.domain import Body
from emails.gateway import ConfigurationFailure, Outgoing, PermanentFailure, TransientFailure
from emails.postmark import PostmarkGateway

from .conftest import POSTMARK_TOKEN, REFUSED, postmark_fails, postmark_received

DOMAIN = "mail.example.com"


def outgoing(to: str, name: str | None = None) -> Outgoing:
    return Outgoing(
        uuid.uuid4().hex,
        "Platform <no-reply@example.com>",
        to,
        name,
        ("welcome", "test"),
        "Héllo",
        Body("plain text ✓", "<p>html</p>"),
    )


def address() -> str:
    return f"person-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture
async def gateway(postmark: str) -> AsyncIterator[PostmarkGateway]:
    gateway = PostmarkGateway(
        postmark, POSTMARK_TOKEN, connections=2, attempts=3, message_id_domain=DOMAIN
    )
    await gateway.start()
    yield gateway
    await gateway.close()


async def sent_to(url: str, to: str) -> list[dict[str, object]]:
    return [e for e in (await postmark_received(url))["emails"] if to in str(e["To"])]


async def test_an_email_is_sent_once_with_postmarks_fields_and_our_message_id(
    postmark: str, gateway: PostmarkGateway
) -> None:
    to = address()
    email = outgoing(to, name="Ada, Countess of Lovelace")
    before = (await postmark_received(postmark))["requests"]

    await gateway.send(email)

    [kept] = await sent_to(postmark, to)
    assert kept["From"] == "Platform <no-reply@example.com>"
    assert kept["To"] == f'"Ada, Countess of Lovelace" <{to}>'
    assert (kept["Subject"], kept["TextBody"], kept["HtmlBody"]) == (
        "Héllo",
        "plain text ✓",
        "<p>html</p>",
    )
    assert (kept["MessageStream"], kept["Tag"]) == ("outbound", "welcome")
    assert kept["Headers"] == [{"Name": "Message-ID", "Value": f"<{email.id}@{DOMAIN}>"}]
    assert (await postmark_received(postmark))["requests"] == before + 1


async def test_an_inactive_recipient_is_a_permanent_failure_tried_once(
    postmark: str, gateway: PostmarkGateway
) -> None:
    before = (await postmark_received(postmark))["requests"]
    with pytest.raises(PermanentFailure, match=r"ErrorCode 406.*inactive"):
        await gateway.send(outgoing(REFUSED))
    assert (await postmark_received(postmark))["requests"] == before + 1
    assert await sent_to(postmark, REFUSED) == []


async def test_an_invalid_email_request_is_a_permanent_failure(
    postmark: str, gateway: PostmarkGateway
) -> None:
    with pytest.raises(PermanentFailure, match=r"ErrorCode 300.*Illegal email address"):
        await gateway.send(outgoing("not an address@example..com"))


@pytest.mark.parametrize("status", [429, 503])
async def test_a_busy_or_failing_postmark_is_retried_then_the_email_delivered(
    postmark: str, gateway: PostmarkGateway, status: int
) -> None:
    to = address()
    before = (await postmark_received(postmark))["requests"]
    await postmark_fails(postmark, status, times=2)

    await gateway.send(outgoing(to))

    assert len(await sent_to(postmark, to)) == 1
    assert (await postmark_received(postmark))["requests"] == before + 3


async def test_postmark_failing_past_the_attempts_is_a_transient_failure(
    postmark: str, gateway: PostmarkGateway
) -> None:
    to = address()
    await postmark_fails(postmark, 503, times=3)
    with pytest.raises(TransientFailure, match="503"):
        await gateway.send(outgoing(to))
    assert await sent_to(postmark, to) == []


async def test_a_bad_token_is_a_configuration_failure_logged_as_such_and_not_retried(
    postmark: str,
) -> None:
    gateway = PostmarkGateway(postmark, "not-the-token", attempts=3)
    await gateway.start()
    before = (await postmark_received(postmark))["requests"]
    try:
        with capture_logs() as logs, pytest.raises(ConfigurationFailure, match="401"):
            await gateway.send(outgoing(address()))
    finally:
        await gateway.close()
    # Transient (the service keeps the email and tries later), but not on the spot.
    assert issubclass(ConfigurationFailure, TransientFailure)
    assert (await postmark_received(postmark))["requests"] == before + 1
    [logged] = [e for e in logs if e["event"] == "postmark.configuration_error"]
    assert "POSTMARK_SERVER_TOKEN" in logged["hint"]


async def test_postmark_unreachable_is_a_transient_failure() -> None:
    gateway = PostmarkGateway("http://127.0.0.1:9", POSTMARK_TOKEN, attempts=2)
    await gateway.start()
    try:
        with pytest.raises(TransientFailure, match="unreachable"):
            await gateway.send(outgoing(address()))
    finally:
        await gateway.close()
