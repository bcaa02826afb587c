"""A local SMTP server (aiosmtpd) that keeps every message it accepts as a `.eml` file in a
directory, so a person or a test can open what was sent (and follow its links).

    python -m simulators.mailbox --dir .data/mail --port 1025

Recipients whose address is listed in `refuse` (or, run alone, `--refuse`) are refused with
a permanent 550, as a real server refuses an unknown mailbox.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import os
import re
import signal
import socket
import uuid
from collections.abc import Iterable
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

REFUSED = "550 5.1.1 No such mailbox here"
LINK = re.compile(r"https?://\S+")


class Keeper:
    """The aiosmtpd handler: refuses listed recipients, stores each accepted message."""

    def __init__(self, directory: Path, refuse: Iterable[str] = ()) -> None:
        self.directory = directory
        self.refuse = {address.lower() for address in refuse}
        # The client end (address and port) of each session that brought a message.
        self.peers: set[str] = set()
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.lower() in self.refuse:
            return REFUSED
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.peers.add(repr(session.peer))
        name = f"{uuid.uuid4().hex}.eml"
        # Written whole under a temporary name, then renamed: a reader never sees half a file.
        partial = self.directory / f".{name}.part"
        partial.write_bytes(content)
        os.replace(partial, self.directory / name)
        return "250 Message accepted for delivery"


class Mailbox:
    """The server on a port of the loopback, started and stopped in this process."""

    def __init__(
        self,
        directory: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        refuse: Iterable[str] = (),
    ) -> None:
        self.keeper = Keeper(directory, refuse)
        self.directory = directory
        self._host = host
        self._port = port
        self._controller: Controller | None = None

    @property
    def port(self) -> int:
        """The port served on (chosen at the first start when 0 was asked for)."""
        return self._port

    def start(self) -> None:
        """Serve in a thread of its own (aiosmtpd's controller); the port stays the same
        across a stop and a start."""
        if self._port == 0:
            # aiosmtpd checks it is up by connecting to the port: it must know it beforehand.
            with socket.socket() as probe:
                probe.bind((self._host, 0))
                self._port = probe.getsockname()[1]
        controller = Controller(
            self.keeper,
            hostname=self._host,
            port=self._port,
            # Ours: no lookup of this host's name, which can take seconds on some machines.
            server_hostname="mailbox.local",
            ready_timeout=10,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[EmailMessage]:
        """Every message kept, oldest first."""
        return read_messages(self.directory)


def read_messages(directory: Path) -> list[EmailMessage]:
    files = sorted(directory.glob("*.eml"), key=lambda path: path.stat().st_mtime_ns)
    parsed = []
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        parsed.append(message)
    return parsed


def sent_to(messages: Iterable[EmailMessage], address: str) -> list[EmailMessage]:
    """The messages addressed to `address` (case-insensitive), in the order given."""
    wanted = address.lower()
    return [m for m in messages if wanted in str(m["To"]).lower()]


def link_token(message: EmailMessage, path: str) -> str | None:
    """The `token` of the first link to `path` in the message's text part, as a person
    following the link would hand it to the website; None when it has no such link."""
    body = message.get_body(preferencelist=("plain",))
    if not isinstance(body, EmailMessage):
        return None
    for url in LINK.findall(str(body.get_content())):
        parts = urlsplit(url)
        tokens = parse_qs(parts.query).get("token")
        if parts.path == path and tokens:
            return str(tokens[0])
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path(".data/mail"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--refuse", action="append", default=[], help="a recipient to refuse")
    args = parser.parse_args(argv)
    mailbox = Mailbox(args.dir, host=args.host, port=args.port, refuse=args.refuse)
    mailbox.start()
    print(f"mailbox: SMTP on {args.host}:{mailbox.port}, messages in {args.dir}/", flush=True)
    stopped = asyncio.Event()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopped.set)
        await stopped.wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    mailbox.stop()


if __name__ == "__main__":
    main()
