"""The email gateway: the port deliveries go through, and its adapters: SMTP (aiosmtplib)
and Postmark's HTTP email API (aiohttp).

The adapter keeps a small pool of open SMTP connections, each carrying one message at a
time, so a busy service does not pay a TCP and SMTP handshake per email. A transient failure
(connection refused or lost, a timeout, an SMTP 4xx) is retried here a few times with a
jittered backoff, then reported as `TransientFailure` for the message to be retried later.
Only a 5xx refusing the email itself (its recipient at RCPT TO, or its content after DATA)
is a `PermanentFailure`, never retried. A 5xx refusing us (at the greeting, EHLO, AUTH or
MAIL FROM: a bad password, an EMAIL_FROM the server does not take) is a
`ConfigurationFailure`: logged as such, and the email waits for it to be fixed. The Postmark
adapter classifies its answers the same way (see `PostmarkGateway`).

A send never takes longer than the gateway's `longest_send` (its attempts are cut there): a
sender holding a claim on an email counts on it (see `EmailService`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr, make_msgid
from typing import Protocol

import aiohttp
import aiosmtplib
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from chassis.logging import get_logger
from emails.domain import Body, Email

log = get_logger(__name__)


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
        self._domain = message_id_domain or make_msgid().rsplit("@", 1)[1].rstrip(">")
        # Idle connections (None: a free slot with no connection yet).
        self._idle: asyncio.Queue[aiosmtplib.SMTP | None] = asyncio.Queue()
        for _ in range(pool_size):
            self._idle.put_nowait(None)
        self._open: set[aiosmtplib.SMTP] = set()

    async def start(self) -> None:
        """Nothing to open ahead: connections are opened by the first sends that need them."""

    @property
    def longest_send(self) -> float:
        return _longest_send(self._attempts, self._server.timeout)

    async def send(self, email: Outgoing) -> None:
        message = mime(email, self._domain)
        try:
            async with asyncio.timeout(self.longest_send):
                async for attempt in _retrying(self._attempts):
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


# The longest wait between two attempts of a send.
RETRY_WAIT_MAX = 2.0


def _retrying(attempts: int) -> AsyncRetrying:
    """Every adapter's retries of a transient failure, a few on the spot."""
    return AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=0.2, max=RETRY_WAIT_MAX, jitter=0.2),
        retry=retry_if_exception_type(TransientFailure)
        & retry_if_not_exception_type(ConfigurationFailure),
        reraise=True,
    )


def _longest_send(attempts: int, timeout: float) -> float:
    """Each attempt given its timeout, and the longest wait between two."""
    return attempts * timeout + (attempts - 1) * RETRY_WAIT_MAX


def _classified(code: int, reply: str) -> DeliveryFailure:
    """A reply to the email's recipient or content: a 5xx refuses the email for good."""
    detail = f"SMTP {code} {reply}".strip()
    return PermanentFailure(detail) if code >= 500 else TransientFailure(detail)


def _refusing_us(stage: str, code: int, reply: str) -> DeliveryFailure:
    """A reply refusing the connection, our login or our sender: never the email's fault."""
    detail = f"SMTP {code} {reply} (at {stage})"
    return ConfigurationFailure(detail) if code >= 500 else TransientFailure(detail)


# --- Postmark ---------------------------------------------------------------------------------

# Postmark's 422 ErrorCodes about our account or sender, not the email
# (https://postmarkapp.com/developer/api/overview#error-codes): bad or missing token, sender
# signature not found or not confirmed, not allowed to send, account pending or suspended.
POSTMARK_CONFIGURATION_ERRORS = frozenset({10, 400, 401, 405, 412, 413})


class PostmarkError(BaseModel):
    ErrorCode: int
    Message: str = ""


class PostmarkAccepted(BaseModel):
    ErrorCode: int
    MessageID: str
    SubmittedAt: str
    To: str


def postmark_message(email: Outgoing, stream: str, domain: str) -> dict[str, object]:
    """The email as Postmark's `POST /email` takes it."""
    name = " ".join((email.to_name or "").split())
    return {
        "From": email.sender,
        # formataddr quotes a name with punctuation, as Postmark requires (its ErrorCode 300).
        "To": formataddr((name, email.to)) if name else email.to,
        "Subject": email.subject,
        "TextBody": email.body.text,
        "HtmlBody": email.body.html,
        "MessageStream": stream,
        # Postmark takes one tag a message: the first, the most specific of ours.
        **({"Tag": email.tags[0]} if email.tags else {}),
        # The same id on every attempt, as over SMTP.
        "Headers": [{"Name": "Message-ID", "Value": f"<{email.id}@{domain}>"}],
    }


class PostmarkGateway:
    """Sends through Postmark's HTTP email API on one session of at most `connections`
    connections, opened by `start` and closed by `close`.

    Its answers, classified as the SMTP adapter's: 200 sent; 422 with an ErrorCode about the
    email (300 invalid request, 406 inactive recipient, ...) a `PermanentFailure`; 401 or a
    422 about our account (see POSTMARK_CONFIGURATION_ERRORS) a `ConfigurationFailure`,
    logged as such; 429, 5xx, any other status, a lost connection or a timeout a
    `TransientFailure`, retried here a few times.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        message_stream: str = "outbound",
        connections: int = 4,
        attempts: int = 3,
        timeout: float = 10.0,
        message_id_domain: str | None = None,
    ) -> None:
        self._url = url.rstrip("/") + "/email"
        self._token = token
        self._stream = message_stream
        self._connections = connections
        self._attempts = attempts
        self._timeout = timeout
        self._domain = message_id_domain or make_msgid().rsplit("@", 1)[1].rstrip(">")
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # Made here, in the running loop, not in __init__ (the app is built before it runs).
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._connections),
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            headers={
                "Accept": "application/json",
                "X-Postmark-Server-Token": self._token,
            },
        )

    @property
    def longest_send(self) -> float:
        return _longest_send(self._attempts, self._timeout)

    async def send(self, email: Outgoing) -> None:
        if self._http is None:
            raise RuntimeError("PostmarkGateway.send before start")
        message = postmark_message(email, self._stream, self._domain)
        try:
            async with asyncio.timeout(self.longest_send):
                async for attempt in _retrying(self._attempts):
                    with attempt:
                        await self._send_once(self._http, message, email.id)
        except TimeoutError as exc:
            raise TransientFailure(f"Postmark send took over {self.longest_send}s") from exc

    async def _send_once(
        self, http: aiohttp.ClientSession, message: dict[str, object], email_id: str
    ) -> None:
        try:
            async with http.post(self._url, json=message) as response:
                status, raw = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientFailure(f"Postmark unreachable: {exc!r}") from exc
        if status == 200:
            try:
                accepted = PostmarkAccepted.model_validate_json(raw)
            except ValidationError:
                # Taken all the same (200): sending it again would send it twice.
                log.warning("postmark.unexpected_answer", email_id=email_id, answer=raw[:500])
            else:
                log.debug("postmark.sent", email_id=email_id, message_id=accepted.MessageID)
            return
        failure = _postmark_failure(status, raw)
        if isinstance(failure, ConfigurationFailure):
            log.error(
                "postmark.configuration_error",
                email_id=email_id,
                error=str(failure),
                hint="check POSTMARK_SERVER_TOKEN and the sender; the email waits, retried later",
            )
        raise failure

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


def _postmark_failure(status: int, raw: bytes) -> DeliveryFailure:
    try:
        error = PostmarkError.model_validate_json(raw)
        detail = f"Postmark {status} ErrorCode {error.ErrorCode}: {error.Message}"
    except ValidationError:
        error = None
        detail = f"Postmark {status}: {raw[:500].decode(errors='replace')}"
    if status == 401:
        return ConfigurationFailure(detail)
    if status == 422 and error is not None:
        if error.ErrorCode in POSTMARK_CONFIGURATION_ERRORS:
            return ConfigurationFailure(detail)
        return PermanentFailure(detail)
    # 429 (rate limited), 5xx, and what the API does not document for this endpoint.
    return TransientFailure(detail)
