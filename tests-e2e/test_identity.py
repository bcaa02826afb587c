"""Identity through the gateway, with every service its own process: people register, confirm
on the page the link of the email the SMTP server received opens, log in, refresh and log out;
a guest invited by email registers on their invitation link's page and is a member; the tokens
identity issues are the ones every service trusts (its JWKS); organizations scope cars; forged
and replayed credentials are refused with nothing changed; what matters to security is audited
for the organization's owner and operators; a new organization is provisioned once; and
`make token` logs in as the development operator would."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from jose import jwk, jwt

from chassis.storage.outbox import OUTBOX
from contracts.identity import OrganizationCreated
from devstack import login
from devstack.paths import DevstackError
from simulators.mailbox import LINK, Mailbox, sent_to
from testkit.api import AuditEntry, PlatformClient, TenantRecord, car_details
from testkit.clock import hours_from_now
from testkit.identity import PASSWORD, People, Person, new_email
from testkit.stored import Databases, stored_for
from testkit.tokens import DevSigningKey, tampered_token, unsigned_token
from testkit.waiting import eventually


@dataclass(frozen=True)
class Page:
    """A page an emailed link opened, and its form, as a browser would post it back."""

    http: aiohttp.ClientSession
    url: str
    text: str
    # The form's inputs by name, with the values the page filled in.
    fields: dict[str, str]

    async def submit(self, **typed: str) -> tuple[int, str]:
        """Post the form (form-encoded, to the page's own address: it names no action) with
        what the person typed in; the status and text of the page answered."""
        async with self.http.post(self.url, data={**self.fields, **typed}) as response:
            return response.status, await response.text()


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.forms = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "form":
            assert named.get("method") == "post" and "action" not in named, named
            self.forms += 1
        elif tag == "input" and named.get("name"):
            self.fields[str(named["name"])] = named.get("value") or ""


def link_to(message: EmailMessage, gateway: str, path: str) -> str:
    """The message's one link to `path`, which must lead to the system's gateway."""
    body = message.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage)
    [link] = [url for url in LINK.findall(str(body.get_content())) if urlsplit(url).path == path]
    assert link.startswith(f"{gateway}{path}?token="), link
    return str(link)


async def opened(anonymous: PlatformClient, link: str) -> Page:
    """The page `link` opens: HTML with one form."""
    async with anonymous.http.get(link) as response:
        assert response.status == 200 and response.content_type == "text/html", response.status
        text = await response.text()
    form = _Form()
    form.feed(text)
    assert form.forms == 1, text
    return Page(anonymous.http, link, text, form.fields)


async def refresh(anonymous: PlatformClient, refresh_token: str) -> tuple[int, Any]:
    answer = await anonymous.call("POST", "/tokens/refresh", json={"refresh_token": refresh_token})
    return answer.status, answer.json()


async def test_a_person_registers_confirms_from_the_emailed_link_logs_in_refreshes_and_logs_out(
    people: People, anonymous: PlatformClient, mailbox: Mailbox, gateway: str
) -> None:
    email = new_email("ada")
    registered = await people.register(email)
    assert registered.status == 201, registered.body
    (await people.login(email)).problem(403)  # not confirmed yet

    [arrived] = await eventually(lambda: sent_to(mailbox.messages(), email), timeout=15)
    page = await opened(anonymous, link_to(arrived, gateway, "/confirm-registration"))
    assert set(page.fields) == {"token"}
    status, text = await page.submit()
    assert status == 200 and "confirmed" in text
    # The link works once.
    status, text = await page.submit()
    assert status == 422 and 'role="alert"' in text

    tokens = (await people.login(email)).json()
    assert tokens["user_id"] == registered.json()["id"]
    api = anonymous.as_caller(tokens["access_token"])
    assert (await api.expect(200, "GET", "/users/me")).json()["email"] == email
    # Another service trusts identity's token: identity's keys are the ones it reads.
    assert await api.cars() == []

    status, renewed = await refresh(anonymous, tokens["refresh_token"])
    assert status == 200 and renewed["refresh_token"] != tokens["refresh_token"]
    assert await anonymous.as_caller(renewed["access_token"]).cars() == []

    logout = {"refresh_token": renewed["refresh_token"]}
    await anonymous.expect(204, "POST", "/tokens/revoke", json=logout)
    status, _ = await refresh(anonymous, renewed["refresh_token"])
    assert status == 401


async def test_a_guest_invited_by_email_registers_from_the_emailed_link_and_is_a_member(
    people: People, anonymous: PlatformClient, mailbox: Mailbox, gateway: str
) -> None:
    [owner] = await people.organization(await people.person(), name="Invitational")
    members = f"/organizations/{owner.organization_id}/members"
    guest = new_email("guest")
    await owner.api.expect(202, "POST", members, json={"email": guest})

    [arrived] = await eventually(lambda: sent_to(mailbox.messages(), guest), timeout=15)
    page = await opened(anonymous, link_to(arrived, gateway, "/accept-invitation"))
    assert "Invitational" in page.text
    assert set(page.fields) == {"email", "first_name", "last_name", "password", "token"}
    assert page.fields["email"] == guest
    status, text = await page.submit(first_name="Grace", last_name="Hopper", password=PASSWORD)
    assert status == 201, text

    # The invited address needs no confirmation: the link came through its mailbox.
    tokens = (await people.login(guest)).json()
    listed = (await owner.api.expect(200, "GET", members)).json()
    assert {m["user_id"]: m["roles"] for m in listed}[tokens["user_id"]] == ["member"]
    # An invitation is accepted once.
    status, text = await page.submit(first_name="Grace", last_name="Hopper", password=PASSWORD)
    assert status == 409 and 'role="alert"' in text


async def test_cars_belong_to_an_organization_and_only_its_members_see_and_book_them(
    people: People,
) -> None:
    founder, driver = await people.organization(
        await people.person(), await people.person(), name="Acme"
    )
    members = await driver.api.expect(
        200, "GET", f"/organizations/{founder.organization_id}/members"
    )
    assert {(m["user_id"], tuple(m["roles"])) for m in members.json()} == {
        (founder.user_id, ("billing_admin", "member", "owner")),
        (driver.user_id, ("member",)),
    }
    ours = await founder.api.register_car()
    # A member of the organization books its car.
    await driver.api.book(ours.id, hours_from_now(1), hours_from_now(2))

    other = await people.person()
    theirs = await other.api.register_car()
    # Neither read nor booked by a member of another organization, as if it did not exist.
    (await driver.api.call("GET", f"/cars/{theirs.id}")).problem(404)
    (await driver.api.call("GET", f"/cars/{theirs.id}/unavailabilities")).problem(404)
    assert [car.id for car in await driver.api.cars()] == [ours.id]
    trip = driver.api.trip(theirs.id, hours_from_now(3), hours_from_now(4))
    (await driver.api.call("POST", "/bookings", json=trip)).problem(422)
    assert await other.api.unavailabilities(theirs.id) == []
    assert await other.api.bookings(hours_from_now(0), hours_from_now(6)) == []


def hs256_with(secret: bytes, claims: dict[str, Any], kid: str) -> str:
    """An HS256 token keyed with `secret`, made by hand: python-jose refuses to use a public
    key as an HMAC secret, and a confused verifier would not."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = part(json.dumps(claims).encode())
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{part(mac)}"


Forgery = Callable[[Person, DevSigningKey, dict[str, Any]], str]
FORGERIES: dict[str, Forgery] = {
    "alg none": lambda person, key, jwks: unsigned_token(
        key.claims(user_id=person.user_id, tenant_id=person.organization_id)
    ),
    "HS256 keyed with identity's public key": lambda person, key, jwks: hs256_with(
        jwk.construct(next(k for k in jwks["keys"] if k["kid"] == key.kid), "RS256").to_pem(),
        key.claims(user_id=person.user_id, tenant_id=person.organization_id),
        key.kid,
    ),
    "expired": lambda person, key, jwks: key.mint(
        user_id=person.user_id,
        tenant_id=person.organization_id,
        expires_in=timedelta(minutes=-5),
    ),
    "tampered": lambda person, key, jwks: tampered_token(person.access_token),
    "another issuer": lambda person, key, jwks: DevSigningKey.generate().mint(
        user_id=person.user_id,
        tenant_id=person.organization_id,
        issuer="https://issuer.example.com",
    ),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_forged_tokens_are_refused_and_change_nothing(
    forgery: str,
    person: Person,
    identity_key: DevSigningKey,
    anonymous: PlatformClient,
    database: Databases,
) -> None:
    jwks = (await anonymous.expect(200, "GET", "/.well-known/jwks.json")).json()
    forged = FORGERIES[forgery](person, identity_key, jwks)
    intruder = anonymous.as_caller(forged)
    answer = await intruder.call("POST", "/cars", json=car_details())
    assert answer.problem(401).detail
    assert "invalid_token" in answer.headers["WWW-Authenticate"]
    (await intruder.call("GET", "/users/me")).problem(401)
    assert await person.api.cars() == []
    assert await stored_for(database("cars"), person.organization_id) == {}


async def test_a_rotated_refresh_token_presented_again_revokes_its_whole_family(
    people: People, anonymous: PlatformClient
) -> None:
    person = await people.person()
    first = person.tokens["refresh_token"]
    status, second = await refresh(anonymous, first)
    assert status == 200
    status, problem = await refresh(anonymous, first)
    assert status == 401, problem
    # The newest token of that login is refused too: whoever holds it, the thief or the owner.
    status, _ = await refresh(anonymous, second["refresh_token"])
    assert status == 401


async def test_roles_only_operators_give_and_standard_stays(
    people: People, operator: Person
) -> None:
    person, other = await people.person(), await people.person()
    operations = {"roles": ["operations"]}
    path = f"/users/{other.user_id}/roles/assign"
    (await person.api.call("POST", path, json=operations)).problem(403)
    standard = {"roles": ["standard"]}
    unassign = f"/users/{other.user_id}/roles/unassign"
    (await operator.api.call("POST", unassign, json=standard)).problem(422)
    assert (await other.api.expect(200, "GET", "/users/me")).json()["roles"] == ["standard"]


async def test_what_matters_to_security_is_audited_for_the_owner_and_operators(
    people: People, operator: Person
) -> None:
    person = await people.person()
    org, user = person.organization_id, f"user:{person.user_id}"
    for _ in range(5):
        (await people.login(person.email, "Wrong-password-1")).problem(401)
    # The sixth wrong password, and even the right one, meet a locked account.
    (await people.login(person.email, "Wrong-password-1")).problem(423)
    (await people.login(person.email, PASSWORD)).problem(423)
    body = {"roles": ["operations"]}
    await operator.api.expect(200, "POST", f"/users/{person.user_id}/roles/assign", json=body)

    wanted = {
        ("identity.user_registered", "succeeded"),
        ("identity.registration_confirmation_requested", "succeeded"),
        ("identity.registration_confirmed", "succeeded"),
        ("identity.logged_in", "succeeded"),
        ("identity.login_refused", "refused"),
        ("identity.account_locked", "succeeded"),
    }

    def of_person(entries: list[AuditEntry]) -> set[tuple[str, str]]:
        return {(e.action, e.outcome) for e in entries if e.target == user}

    def refusals(entries: list[AuditEntry]) -> int:
        return sum(e.action == "identity.login_refused" for e in entries)

    async def owner_reads_all() -> list[AuditEntry] | None:
        # Every refused login, those of the locked account too; the role change the operator
        # made is the person's organization's record as well.
        entries = await person.api.audits()
        complete = of_person(entries) >= wanted | {("identity.roles_changed", "succeeded")}
        return entries if complete and refusals(entries) == 7 else None

    entries = await eventually(owner_reads_all, timeout=15)
    assert {e.organization_id for e in entries} == {org}
    assert of_person(await operator.api.audits(organization_id=org)) >= wanted
    outsider = await people.person()
    named = await outsider.api.call("GET", "/audits", params={"organization_id": org})
    named.problem(403)


async def test_a_new_organization_is_provisioned_once(
    person: Person, operator: Person, database: Databases
) -> None:
    created = await person.api.expect(201, "POST", "/organizations", json={"name": "Globex"})
    org = created.json()["id"]
    assert created.json()["provisioned"] is False

    async def provisioned() -> TenantRecord | None:
        answer = await operator.api.call("GET", f"/tenants/{org}")
        return answer.parse(TenantRecord) if answer.status == 200 else None

    record: TenantRecord = await eventually(provisioned, timeout=20, interval=0.1)
    assert (record.id, record.name, record.created_by) == (org, "Globex", person.user_id)

    async def marked() -> bool:
        answer = await person.api.expect(200, "GET", f"/organizations/{org}")
        return bool(answer.json()["provisioned"])

    await eventually(marked, timeout=15)
    await asyncio.sleep(1.0)  # a second provisioning would have shown by now
    assert await database("provisioning")["tenants"].count_documents({"_id": org}) == 1
    creations = database("identity")[OUTBOX].find(
        {"routing_key": OrganizationCreated.event_type, "body": {"$regex": org}}
    )
    assert len([row async for row in creations]) == 1


async def test_make_tokens_login_registers_confirms_and_then_only_logs_in(
    gateway: str, mailbox: Mailbox, anonymous: PlatformClient, operator: Person
) -> None:
    email = f"dev-{uuid.uuid4().hex[:8]}@example.com"

    def token(address: str, password: str = login.DEV_PASSWORD) -> str:
        return login.access_token(gateway, address, password, mailbox.directory)

    first = await asyncio.to_thread(token, email)
    me = (await anonymous.as_caller(first).expect(200, "GET", "/users/me")).json()
    assert me["email"] == email and me["roles"] == ["standard"]
    again = await asyncio.to_thread(token, email)
    assert jwt.get_unverified_claims(again)["sub"] == me["id"]
    with pytest.raises(DevstackError, match="another password"):
        await asyncio.to_thread(token, email, "Another-password-2")
    # The operator's token carries the role that opens everything.
    as_operator = await asyncio.to_thread(token, operator.email, operator.password)
    assert "operations" in jwt.get_unverified_claims(as_operator)["roles"]
