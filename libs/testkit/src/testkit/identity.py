"""People through identity's API, for tests: register, confirm with the emailed token, log
in. Where the token comes from is the caller's: a queue of the test's own bound to the
email requests (service tests), or the SMTP server's mailbox (the whole system)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from contracts import Envelope
from contracts.emails import EmailRequested, Invitation, PasswordReset, RegistrationConfirmation
from contracts.roles import PlatformRole
from simulators.mailbox import link_token, sent_to
from testkit.api import Answer, PlatformClient
from testkit.rabbit import Rabbit
from testkit.waiting import eventually

PASSWORD = "Correct-horse-9"
# (address, template, nth) -> the token of that email
TokenSource = Callable[[str, str, int], Awaitable[str]]
# The page of the website each email's link leads to (the emails service's links).
LINK_PATHS = {
    "registration_confirmation": "/confirm-registration",
    "invitation": "/accept-invitation",
    "password_reset": "/reset-password",
}


def new_email(name: str = "person", domain: str = "example.com") -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@{domain}"


class Mailbag:
    """The emails identity asked for, as a queue of the test's own received them."""

    def __init__(self, rabbit: Rabbit, exchange: str = "domain_events") -> None:
        self._rabbit = rabbit
        self._exchange = exchange
        self._messages: list[AbstractIncomingMessage] = []

    async def start(self) -> None:
        self._messages = await self._rabbit.watch(self._exchange, EmailRequested.event_type)

    def sent(self, to: str, template: str) -> list[EmailRequested]:
        envelopes = [Envelope.model_validate_json(m.body) for m in self._messages]
        requests = [EmailRequested.model_validate(e.data) for e in envelopes]
        return [r for r in requests if r.to == to and r.message.template == template]

    async def token(self, to: str, template: str, nth: int = 1) -> str:
        """The token of the `nth` email of `template` sent to `to`."""
        await eventually(lambda: self.sent(to, template)[nth - 1 :])
        message = self.sent(to, template)[nth - 1].message
        assert isinstance(message, RegistrationConfirmation | Invitation | PasswordReset)
        return message.token


def delivered_tokens(
    messages: Callable[[], Awaitable[list[EmailMessage]]], timeout: float = 15.0
) -> TokenSource:
    """Tokens from the emails an SMTP server received (`messages()`, oldest first): the token
    of the link to the template's page, as its recipient would follow it."""

    async def token(to: str, template: str, nth: int = 1) -> str:
        async def nth_token() -> str | None:
            mail = sent_to(await messages(), to)
            tokens = [t for m in mail if (t := link_token(m, LINK_PATHS[template])) is not None]
            return tokens[nth - 1] if len(tokens) >= nth else None

        return str(await eventually(nth_token, timeout=timeout, interval=0.1))

    return token


@dataclass
class Person:
    email: str
    password: str
    user_id: str
    # The organization their tokens act for.
    organization_id: str
    tokens: dict[str, Any]
    api: PlatformClient

    @property
    def access_token(self) -> str:
        return str(self.tokens["access_token"])

    def calling(self, base_url: str) -> PlatformClient:
        """This person, with the tokens they hold now, calling the API at `base_url` (a
        service under test, the gateway)."""
        return PlatformClient(self.api.http, base_url, self.access_token)


class People:
    """Registers, confirms and logs in people through the API."""

    def __init__(self, anonymous: PlatformClient, token: TokenSource) -> None:
        self.anonymous = anonymous
        self.token = token

    async def register(self, email: str | None = None, **fields: Any) -> Answer:
        body = {
            "email": email or new_email(),
            "password": PASSWORD,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "timezone": "Europe/London",
            **fields,
        }
        return await self.anonymous.call("POST", "/credentials/register", json=body)

    async def confirm(self, email: str) -> None:
        token = await self.token(email, "registration_confirmation", 1)
        await self.anonymous.expect(
            200, "POST", "/credentials/confirm-registration", json={"token": token}
        )

    async def login(self, email: str, password: str = PASSWORD) -> Answer:
        return await self.anonymous.call(
            "POST", "/credentials/auth", json={"username": email, "password": password}
        )

    async def person(self, email: str | None = None, password: str = PASSWORD) -> Person:
        """A registered, confirmed and logged-in person."""
        email = email or new_email()
        registered = await self.register(email, password=password)
        assert registered.status == 201, registered.body
        await self.confirm(email)
        login = await self.login(email, password)
        assert login.status == 200, login.body
        tokens = login.json()
        user = registered.json()
        return Person(
            email,
            password,
            user["id"],
            user["default_organization_id"],
            tokens,
            self.anonymous.as_caller(tokens["access_token"]),
        )

    async def refreshed(self, person: Person) -> Person:
        """`person`, now with the tokens a refresh gave (their refresh token is spent, and so
        the tokens they had are replaced in place: a person is one login at a time)."""
        answer = await self.anonymous.expect(
            200, "POST", "/tokens/refresh", json={"refresh_token": person.tokens["refresh_token"]}
        )
        person.tokens = answer.json()
        person.api = self.anonymous.as_caller(person.access_token)
        return person

    async def act_for(self, person: Person, organization_id: str) -> Person:
        """`person`, now with tokens acting for `organization_id` (their default from now on;
        tokens they were given before still act for the organization they named)."""
        body = {"organization_id": organization_id}
        await person.api.expect(200, "PUT", "/users/me/default-organization", json=body)
        person.organization_id = organization_id
        return await self.refreshed(person)

    async def organization(
        self, owner: Person, *members: Person, name: str = "Acme"
    ) -> list[Person]:
        """A shared organization `owner` creates and adds `members` to: each of them, now with
        tokens acting for it, owner first."""
        created = await owner.api.expect(201, "POST", "/organizations", json={"name": name})
        organization_id = created.json()["id"]
        for member in members:
            body = {"user_id": member.user_id}
            await owner.api.expect(
                201, "POST", f"/organizations/{organization_id}/members", json=body
            )
        return [await self.act_for(p, organization_id) for p in (owner, *members)]

    async def promote(self, operator: Person, person: Person) -> Person:
        """`person`, given the operations role by `operator`, now with tokens that carry it."""
        body = {"roles": [PlatformRole.OPERATIONS]}
        await operator.api.expect(200, "POST", f"/users/{person.user_id}/roles/assign", json=body)
        return await self.refreshed(person)
