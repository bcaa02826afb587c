"""The email gateway over Postmark's HTTP email API (aiohttp).

https://postmarkapp.com/developer/api/email-api: `POST /email` with the server's token in
`X-Postmark-Server-Token`. We cannot reach Postmark from here: `simulators.postmark` speaks
its documented contract for the tests.
"""

from __future__ import annotations

import asyncio
from email.utils import formataddr

import aiohttp
from pydantic import BaseModel, ValidationError

from chassis.logging import get_logger
from chassis.retry import longest_retried
from emails.gateway import (
    ConfigurationFailure,
    DeliveryFailure,
    Outgoing,
    PermanentFailure,
    TransientFailure,
    our_domain,
    retrying,
)

log = get_logger(__name__)

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
        self._domain = our_domain(message_id_domain)
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
        return longest_retried(self._attempts, self._timeout)

    async def send(self, email: Outgoing) -> None:
        if self._http is None:
            raise RuntimeError("PostmarkGateway.send before start")
        message = postmark_message(email, self._stream, self._domain)
        try:
            async with asyncio.timeout(self.longest_send):
                async for attempt in retrying(self._attempts):
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
