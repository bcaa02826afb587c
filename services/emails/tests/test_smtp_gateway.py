"""The SMTP gateway against a real SMTP server on the loopback: connections reused, a refused
recipient a permanent failure, a server that is down a transient one, and back it works; a
server refusing us (greeting, AUTH, MAIL FROM) a configuration failure, not the email's."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from emails.domain import Body
from emails.gateway import ConfigurationFailure, Outgoing, PermanentFailure, TransientFailure
from emails.smtp import SmtpGateway, SmtpServer
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


class Refusing:
    """An aiosmtpd handler and authenticator refusing at one stage of the session, with a 5xx,
    keeping the sessions it refused."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.refused: set[int] = set()

    def __call__(self, server: SMTP, session: Session, *args: Any) -> AuthResult:
        if self.stage == "auth":
            self.refused.add(id(session))
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.stage == "mail":
            self.refused.add(id(session))
            return "553 5.7.1 Sender address rejected: not owned by user"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.stage == "data":
            self.refused.add(id(session))
            return "554 5.7.1 Message rejected as spam"
        return "250 OK"


@contextlib.contextmanager
def refusing(stage: str) -> Iterator[tuple[Refusing, int]]:
    handler = Refusing(stage)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        server_hostname="refusing.local",
        authenticator=handler,
        auth_require_tls=False,
        ready_timeout=10,
    )
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def logging_in(port: int) -> SmtpServer:
    return SmtpServer("127.0.0.1", port, username="platform", password="wrong", timeout=5)


async def test_a_server_refusing_our_login_is_a_configuration_failure_not_retried(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with refusing("auth") as (server, port):
        gateway = SmtpGateway(logging_in(port), pool_size=1, attempts=3)
        try:
            with pytest.raises(ConfigurationFailure, match=r"535.*at AUTH") as refused:
                await gateway.send(outgoing("someone@example.com"))
        finally:
            await gateway.close()
    assert not isinstance(refused.value, PermanentFailure), "the email waits, not failed"
    assert len(server.refused) == 1, "not retried on the spot, where it cannot heal"
    assert "smtp.configuration_error" in capsys.readouterr().out


async def test_a_server_refusing_our_sender_is_a_configuration_failure() -> None:
    with refusing("mail") as (server, port):
        gateway = SmtpGateway(logging_in(port), pool_size=1, attempts=3)
        try:
            with pytest.raises(ConfigurationFailure, match=r"553.*at MAIL FROM"):
                await gateway.send(outgoing("someone@example.com"))
        finally:
            await gateway.close()
    assert len(server.refused) == 1


async def test_a_server_refusing_the_message_after_data_refuses_the_email_for_good() -> None:
    with refusing("data") as (server, port):
        gateway = SmtpGateway(logging_in(port), pool_size=1, attempts=3)
        try:
            with pytest.raises(PermanentFailure, match="554"):
                await gateway.send(outgoing("someone@example.com"))
        finally:
            await gateway.close()
    assert len(server.refused) == 1


async def test_a_server_refusing_us_at_its_greeting_is_a_configuration_failure() -> None:
    greeted = 0

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal greeted
        greeted += 1
        writer.write(b"554 5.7.1 No SMTP service for you\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    gateway = SmtpGateway(SmtpServer("127.0.0.1", port, timeout=5), pool_size=1, attempts=3)
    try:
        with pytest.raises(ConfigurationFailure, match=r"554.*at connect"):
            await gateway.send(outgoing("someone@example.com"))
    finally:
        await gateway.close()
        server.close()
        await server.wait_closed()
    assert greeted == 1


async def test_a_send_never_takes_longer_than_the_gateway_says() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never greets

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    gateway = SmtpGateway(SmtpServer("127.0.0.1", port, timeout=0.3), pool_size=1, attempts=2)
    started = time.monotonic()
    try:
        with pytest.raises(TransientFailure):
            await gateway.send(outgoing("someone@example.com"))
    finally:
        await gateway.close()
        server.close()
        await server.wait_closed()
    assert time.monotonic() - started <= gateway.longest_send + 0.5
