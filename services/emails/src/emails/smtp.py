"""The email gateway over SMTP (aiosmtplib).

The adapter keeps a small pool of open SMTP connections, each carrying one message at a
time, so a busy service does not pay a TCP and SMTP handshake per email. Only a 5xx refusing
the email itself (its recipient at RCPT TO, or its content after DATA) is a
`PermanentFailure`; a 5xx refusing us (at the greeting, EHLO, AUTH or MAIL FROM: a bad
password, an EMAIL_FROM the server does not take) is a `ConfigurationFailure`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.message import Message

import aiosmtplib

from chassis.logging import get_logger
from chassis.retry import longest_retried
from emails.gateway import (
    ConfigurationFailure,
    DeliveryFailure,
    Outgoing,
    PermanentFailure,
    TransientFailure,
    mime,
    our_domain,
    retrying,
)

log = get_logger(__name__)


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    start_tls: bool = False
    use_tls: bool = False
    timeout: float = 10.0


class SmtpGateway:
    def __init__(
        self,
        server: SmtpServer,
        *,
        pool_size: int = 4,
        attempts: int = 3,
        message_id_domain: str | None = None,
    ) -> None:
        self._server = server
        self._attempts = attempts
        self._domain = our_domain(message_id_domain)
        # Idle connections (None: a free slot with no connection yet).
        self._idle: asyncio.Queue[aiosmtplib.SMTP | None] = asyncio.Queue()
        for _ in range(pool_size):
            self._idle.put_nowait(None)
        self._open: set[aiosmtplib.SMTP] = set()

    async def start(self) -> None:
        """Nothing to open ahead: connections are opened by the first sends that need them."""

    @property
    def longest_send(self) -> float:
        return longest_retried(self._attempts, self._server.timeout)

    async def send(self, email: Outgoing) -> None:
        message = mime(email, self._domain)
        try:
            async with asyncio.timeout(self.longest_send):
                async for attempt in retrying(self._attempts):
                    with attempt:
                        await self._send_once(message, email.to)
        except TimeoutError as exc:
            # Cut here (waiting for a connection of the pool, or a server answering slowly).
            raise TransientFailure(f"SMTP send took over {self.longest_send}s") from exc
        except ConfigurationFailure as exc:
            log.error(
                "smtp.configuration_error",
                email_id=email.id,
                error=str(exc),
                hint="check SMTP_USERNAME, SMTP_PASSWORD, SMTP TLS settings and EMAIL_FROM; "
                "the email waits, retried later",
            )
            raise

    async def _send_once(self, message: Message, to: str) -> None:
        smtp = await self._idle.get()
        sent = False
        try:
            if smtp is None or not smtp.is_connected:
                smtp = await self._connect()
            await smtp.send_message(message, recipients=[to])
            sent = True
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            raise _classified(refused.code, refused.message) from exc
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:
            raise _classified(exc.code, exc.message) from exc
        except aiosmtplib.SMTPSenderRefused as exc:
            raise _refusing_us("MAIL FROM", exc.code, exc.message) from exc
        except aiosmtplib.SMTPResponseException as exc:
            # Any other command of the session (RSET, ...): not about this email.
            raise TransientFailure(f"SMTP {exc.code} {exc.message}".strip()) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientFailure(f"SMTP server unreachable: {exc!r}") from exc
        finally:
            # After any failure the session's state is unknown: it is closed, and the slot
            # goes back empty for the next send to open a fresh connection.
            if sent:
                self._idle.put_nowait(smtp)
            else:
                self._drop(smtp)

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self._server
        smtp = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password,
            start_tls=s.start_tls,
            use_tls=s.use_tls,
            timeout=s.timeout,
        )
        try:
            # Greeting, EHLO, STARTTLS and AUTH: what the server refuses here is us.
            await smtp.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise _refusing_us("AUTH", exc.code, exc.message) from exc
        except aiosmtplib.SMTPResponseException as exc:
            smtp.close()
            raise _refusing_us("connect", exc.code, exc.message) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            # Asked for STARTTLS or AUTH the server does not offer.
            smtp.close()
            raise ConfigurationFailure(f"SMTP server at connect: {exc}") from exc
        self._open.add(smtp)
        return smtp

    def _drop(self, smtp: aiosmtplib.SMTP | None) -> None:
        if smtp is not None:
            self._open.discard(smtp)
            smtp.close()
        self._idle.put_nowait(None)

    async def close(self) -> None:
        for smtp in list(self._open):
            try:
                await asyncio.wait_for(smtp.quit(), timeout=2)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                smtp.close()
        self._open.clear()


def _classified(code: int, reply: str) -> DeliveryFailure:
    """A reply to the email's recipient or content: a 5xx refuses the email for good."""
    detail = f"SMTP {code} {reply}".strip()
    return PermanentFailure(detail) if code >= 500 else TransientFailure(detail)


def _refusing_us(stage: str, code: int, reply: str) -> DeliveryFailure:
    """A reply refusing the connection, our login or our sender: never the email's fault."""
    detail = f"SMTP {code} {reply} (at {stage})"
    return ConfigurationFailure(detail) if code >= 500 else TransientFailure(detail)
