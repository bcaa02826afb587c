"""The SMTP gateway against a real SMTP server on the loopback: connections reused, a refused
recipient a permanent failure, a server that is down a transient one, and back it works."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from emails.domain import Body
from emails.gateway import Outgoing, PermanentFailure, SmtpGateway, SmtpServer, TransientFailure
from simulators.mailbox import Mailbox

REFUSED = "ghost@example.com"


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Mailbox]:
    mailbox = Mailbox(tmp_path, refuse=[REFUSED])
    mailbox.start()
    yield mailbox
    mailbox.stop()


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


async def test_many_emails_share_a_few_connections(box: Mailbox) -> None:
    gateway = SmtpGateway(SmtpServer("127.0.0.1", box.port), pool_size=2)
    try:
        sent = [outgoing(f"p{n}@example.com", name="Ada, Countess") for n in range(20)]
        await asyncio.gather(*(gateway.send(e) for e in sent))
    finally:
        await gateway.close()

    kept = box.messages()
    assert {str(m["Message-ID"]).split("@")[0] for m in kept} == {f"<{e.id}" for e in sent}
    assert len(box.keeper.peers) <= 2, "connections are reused, not opened per email"
    first = kept[0]
    assert first["Subject"] == "Héllo" and first["X-Tags"] == "welcome, test"
    assert '"Ada, Countess"' in str(first["To"])
    assert first.get_body(preferencelist=("plain",)).get_content().strip() == "plain text ✓"  # type: ignore[union-attr]


async def test_a_refused_recipient_is_a_permanent_failure(box: Mailbox) -> None:
    gateway = SmtpGateway(SmtpServer("127.0.0.1", box.port), pool_size=1)
    try:
        with pytest.raises(PermanentFailure, match="550"):
            await gateway.send(outgoing(REFUSED))
        await gateway.send(outgoing("ok@example.com"))  # the pool is still good
    finally:
        await gateway.close()
    assert [str(m["To"]) for m in box.messages()] == ["ok@example.com"]


async def test_a_server_down_is_a_transient_failure_and_back_it_works(box: Mailbox) -> None:
    gateway = SmtpGateway(SmtpServer("127.0.0.1", box.port, timeout=2), pool_size=1, attempts=2)
    try:
        await gateway.send(outgoing("before@example.com"))
        box.stop()
        with pytest.raises(TransientFailure, match="unreachable"):
            await gateway.send(outgoing("during@example.com"))
        box.start()
        await gateway.send(outgoing("after@example.com"))
    finally:
        await gateway.close()
    assert [str(m["To"]) for m in box.messages()] == ["before@example.com", "after@example.com"]
