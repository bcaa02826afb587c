"""A local transactional-email server speaking Postmark's email API, for tests and `make run`.

Like the real one (https://postmarkapp.com/developer/user-guide/send-email-with-api) it takes
`POST /email` with the server's token in `X-Postmark-Server-Token` and a JSON message
`{From, To, Cc?, Bcc?, Subject?, TextBody?, HtmlBody?, Tag?, Headers?: [{Name, Value}],
MessageStream?, ...}`, and answers as the API documents
(https://postmarkapp.com/developer/api/overview#error-codes):

- a missing or unknown token: 401 `{ErrorCode: 10, Message}`;
- a body that is not JSON: 422 ErrorCode 402; not sent as JSON: 422 ErrorCode 409;
- a message that is not valid (no From or To, an address Postmark would not take, neither
  TextBody nor HtmlBody, over 50 recipients, a Tag over 1000 characters): 422 ErrorCode 300;
- an unknown MessageStream: 422 ErrorCode 1235;
- a recipient marked inactive (hard bounce, spam complaint, suppression): 422 ErrorCode 406;
- accepted: 200 `{To, SubmittedAt, MessageID, ErrorCode: 0, Message: "OK"}`.

It keeps every message it accepted, with the MessageID it gave. For tests:

- `GET /_simulator/emails`: `{"requests": n, "emails": [{MessageID, SubmittedAt, From, To,
  Subject, TextBody, HtmlBody, Tag, Headers, MessageStream}]}`, n counting every send asked
  for, refused or not;
- `POST /_simulator/fail` `{"status": 503, "times": 3}`: the next 3 sends are answered with
  that status (nothing kept), then it accepts again;
- `DELETE /_simulator/emails`: forget what it holds.

    python -m simulators.postmark --port 8191 [--token T] [--inactive someone@example.com]
"""

from __future__ import annotations

import argparse
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import getaddresses
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulators.faults import Faults

DEFAULT_TOKEN = "postmark-local-development"
DEFAULT_PORT = 8191
DEFAULT_STREAM = "outbound"
# The real API takes messages up to 10 MB, attachments included.
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_RECIPIENTS = 50
# The validations Postmark documents for addresses (support article "Error Code 300").
_MAILBOX = re.compile(r"^[a-z0-9.!#$%&'`*+\-/=^_{}|~]+$", re.IGNORECASE)
_DOMAIN = re.compile(r"^(\.?[a-zA-Z0-9\-])+$")

INVALID_TOKEN = 10
INVALID_EMAIL_REQUEST = 300
INVALID_JSON = 402
INACTIVE_RECIPIENT = 406
JSON_REQUIRED = 409
UNKNOWN_STREAM = 1235


class Header(BaseModel):
    model_config = ConfigDict(extra="forbid")

    Name: str = Field(min_length=1)
    Value: str


class Message(BaseModel):
    # The real API has more optional fields (attachments, tracking, metadata...): kept as sent.
    model_config = ConfigDict(extra="allow")

    From: str = Field(min_length=1)
    To: str = Field(min_length=1)
    Cc: str | None = None
    Bcc: str | None = None
    Subject: str | None = None
    TextBody: str | None = None
    HtmlBody: str | None = None
    Tag: str | None = Field(default=None, max_length=1000)
    Headers: list[Header] = Field(default_factory=list)
    MessageStream: str | None = None


@dataclass
class Simulator:
    tokens: frozenset[str]
    inactive: frozenset[str] = frozenset()
    streams: frozenset[str] = frozenset([DEFAULT_STREAM])
    # Sends it was asked for, answered as they were (refused, failed, accepted).
    requests: int = 0
    emails: list[dict[str, Any]] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.add_routes(
            [
                web.post("/email", self._send),
                web.get("/_simulator/emails", self._show),
                web.delete("/_simulator/emails", self._forget),
                web.post("/_simulator/fail", self.faults.told),
            ]
        )
        return app

    async def _send(self, request: web.Request) -> web.Response:
        self.requests += 1
        token = request.headers.get("X-Postmark-Server-Token")
        if token is None:
            return _error(
                401,
                INVALID_TOKEN,
                "No Account or Server API tokens were supplied in the HTTP headers.",
            )
        if token not in self.tokens:
            return _error(
                401,
                INVALID_TOKEN,
                "The Server Token you provided in the X-Postmark-Server-Token request header "
                "was invalid. Please verify that you are using a valid token.",
            )
        if (status := self.faults.take()) is not None:
            return _error(status, status, f"told to answer {status}")
        if request.content_type != "application/json":
            return _error(422, JSON_REQUIRED, "JSON request body required.")
        try:
            data = json.loads(await request.read())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(422, INVALID_JSON, "The request body is not valid JSON.")
        try:
            message = Message.model_validate(data)
            recipients = _recipients(message)
        except (ValidationError, ValueError) as exc:
            return _error(422, INVALID_EMAIL_REQUEST, f"Invalid email request: {_reason(exc)}")
        stream = message.MessageStream or DEFAULT_STREAM
        if stream not in self.streams:
            return _error(
                422,
                UNKNOWN_STREAM,
                f"The 'MessageStream' provided does not exist on this server: '{stream}'.",
            )
        inactive = [r for r in recipients if r.lower() in self.inactive]
        if inactive:
            return _error(
                422,
                INACTIVE_RECIPIENT,
                "You tried to send to recipient(s) that have been marked as inactive. Found "
                f"inactive addresses: {', '.join(inactive)}. Inactive recipients are ones that "
                "have generated a hard bounce, a spam complaint, or a manual suppression.",
            )
        accepted = {
            "To": message.To,
            "SubmittedAt": datetime.now(UTC).isoformat(),
            "MessageID": str(uuid.uuid4()),
            "ErrorCode": 0,
            "Message": "OK",
        }
        kept = message.model_dump(mode="json", exclude_none=True)
        kept["MessageStream"] = stream
        self.emails.append(
            {"MessageID": accepted["MessageID"], "SubmittedAt": accepted["SubmittedAt"], **kept}
        )
        return web.json_response(accepted)

    async def _show(self, _: web.Request) -> web.Response:
        return web.json_response({"requests": self.requests, "emails": self.emails})

    async def _forget(self, _: web.Request) -> web.Response:
        self.requests, self.emails = 0, []
        self.faults.clear()
        return web.Response(status=204)


def _recipients(message: Message) -> list[str]:
    """The addresses of To, Cc and Bcc, each checked as Postmark checks them."""
    if len(_addresses(message.From, "From")) != 1:
        raise ValueError("Error parsing 'From': one sender address expected.")
    recipients = []
    for name, value in (("To", message.To), ("Cc", message.Cc), ("Bcc", message.Bcc)):
        if value:
            recipients += _addresses(value, name)
    if len(recipients) > MAX_RECIPIENTS:
        raise ValueError(f"Maximum of {MAX_RECIPIENTS} recipients allowed per email message")
    if not (message.TextBody or message.HtmlBody):
        raise ValueError("Provide either email TextBody or HtmlBody or both.")
    return recipients


def _addresses(value: str, field_name: str) -> list[str]:
    """The addresses in a field ("Name <a@b.c>, d@e.f"), or ValueError naming a bad one."""
    # getaddresses splits on commas outside quoted names ("Doe, Jane" <jane@example.com>).
    addresses = [address for _, address in getaddresses([value])]
    for address in addresses or [value]:
        mailbox, at, domain = address.rpartition("@")
        if not (at and _MAILBOX.match(mailbox) and _DOMAIN.match(domain) and "." in domain):
            raise ValueError(f"Error parsing '{field_name}': Illegal email address '{address}'.")
    return addresses


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
    return str(exc)


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"ErrorCode": code, "Message": message}, status=status)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--token", action="append", help=f"a server token it accepts ({DEFAULT_TOKEN})"
    )
    parser.add_argument(
        "--inactive", action="append", default=[], help="a recipient refused as inactive (406)"
    )
    args = parser.parse_args(argv)
    simulator = Simulator(
        frozenset(args.token or [DEFAULT_TOKEN]), frozenset(a.lower() for a in args.inactive)
    )
    web.run_app(simulator.app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
