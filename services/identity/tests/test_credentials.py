"""Passwords on the real MongoDB and RabbitMQ, over HTTP: registration and its confirmation,
login and lockout, password reset; what is stored and what is asked of emails."""

from __future__ import annotations

import time

from testkit.api import PlatformClient
from testkit.identity import PASSWORD, Mailbag, People, new_email
from testkit.stored import Database


async def test_a_person_registers_confirms_and_logs_in(people: People, database: Database) -> None:
    email = new_email()
    registered = await people.register(email)
    assert registered.status == 201, registered.body
    user = registered.json()
    assert user["email"] == email and user["roles"] == ["standard"]
    assert user["memberships"] == [
        {
            "organization_id": user["default_organization_id"],
            "roles": ["billing_admin", "member", "owner"],
        }
    ]
    refused = await people.login(email)
    assert refused.status == 403, "an unconfirmed account cannot log in"

    await people.confirm(email)
    login = await people.login(email)
    assert login.status == 200, login.body
    tokens = login.json()
    assert tokens["user_id"] == user["id"] and tokens["token_type"] == "Bearer"
    assert tokens["refresh_token"].startswith("rt_")

    stored = await database["credentials"].find_one({"_id": user["id"]})
    assert stored is not None and stored["confirmed"] and stored["confirmation"] is None
    assert stored["password_hash"].startswith("$argon2id$")
    organization = await database["organizations"].find_one(
        {"_id": user["default_organization_id"]}
    )
    assert organization is not None and organization["kind"] == "personal"


async def test_the_password_policy(people: People) -> None:
    for weak in ("Short1!", "alllowercaseletters", "ALLUPPER12345", "x" * 201 + "A1"):
        answer = await people.register(password=weak)
        assert answer.status == 422, (weak, answer.body)
    assert (await people.register(password="lower-and-digits-1")).status == 201


async def test_an_address_registers_once(people: People) -> None:
    email = new_email()
    assert (await people.register(email)).status == 201
    again = await people.register(email.upper())
    assert again.status == 409


async def test_a_confirmation_token_is_spent_once(people: People, mail: Mailbag) -> None:
    email = new_email()
    await people.register(email)
    token = await mail.token(email, "registration_confirmation")
    confirm = {"token": token}
    await people.anonymous.expect(200, "POST", "/credentials/confirm-registration", json=confirm)
    again = await people.anonymous.call("POST", "/credentials/confirm-registration", json=confirm)
    assert again.status == 422


async def test_the_fifth_wrong_password_locks_the_account(
    people: People, database: Database
) -> None:
    person = await people.person()
    for attempt in range(1, 6):
        answer = await people.login(person.email, "Wrong-password-1")
        assert answer.status == 401, (attempt, answer.body)
    sixth = await people.login(person.email, "Wrong-password-1")
    assert sixth.status == 423
    assert 0 < int(sixth.headers["Retry-After"]) <= 600
    right = await people.login(person.email)
    assert right.status == 423, "locked whatever the password"
    stored = await database["credentials"].find_one({"_id": person.user_id})
    assert stored is not None and stored["locked_until"] is not None


async def test_an_unknown_address_takes_about_as_long_as_a_wrong_password(
    people: People,
) -> None:
    person = await people.person()

    async def timed(email: str) -> float:
        started = time.perf_counter()
        answer = await people.login(email, "Wrong-password-1")
        assert answer.status == 401
        return time.perf_counter() - started

    # Fewer than five wrong passwords, so the account is never locked.
    known = sorted([await timed(person.email) for _ in range(4)])[1]
    unknown = sorted([await timed(new_email()) for _ in range(4)])[1]
    assert 0.5 < unknown / known < 2.0, (known, unknown)


async def test_a_password_reset(people: People, mail: Mailbag, database: Database) -> None:
    person = await people.person()
    anonymous: PlatformClient = people.anonymous
    await anonymous.expect(202, "POST", "/credentials/reset", json={"email": person.email})
    # An unknown address is answered the same, and nothing is sent.
    stranger = new_email()
    await anonymous.expect(202, "POST", "/credentials/reset", json={"email": stranger})
    token = await mail.token(person.email, "password_reset")
    verified = await anonymous.expect(
        200, "POST", "/credentials/reset/verify", json={"token": token}
    )
    assert verified.json() == {"email": person.email}

    weak = {"token": token, "password": "weak"}
    assert (await anonymous.call("POST", "/credentials/reset/complete", json=weak)).status == 422
    new_password = "Another-horse-7"
    complete = {"token": token, "password": new_password}
    await anonymous.expect(204, "POST", "/credentials/reset/complete", json=complete)

    assert (await people.login(person.email, PASSWORD)).status == 401
    assert (await people.login(person.email, new_password)).status == 200
    refresh = {"refresh_token": person.tokens["refresh_token"]}
    assert (await anonymous.call("POST", "/tokens/refresh", json=refresh)).status == 401, (
        "a reset ends every login the account had"
    )
    assert mail.sent(stranger, "password_reset") == []
    again = await anonymous.call("POST", "/credentials/reset/complete", json=complete)
    assert again.status == 422, "a reset token is spent once"
