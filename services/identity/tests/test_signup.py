"""Company sign-up over HTTP on the real MongoDB and RabbitMQ: the admin registered, the
company's organization with its card kept by the billing provider, in one transaction; a
refused card stores nothing; the card's number is never stored nor logged."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devstack.services import by_name
from devstack.system import StackSettings, System, free_ports
from identity.organizations.billing import luhn_valid
from testkit.api import PlatformClient
from testkit.fixtures import TestInfra
from testkit.identity import PASSWORD, People, new_email
from testkit.logs import log_runs
from testkit.stored import Database

COUNTED = ("users", "credentials", "organizations")


def card_number() -> str:
    """A Visa number of this test's own, so finding it anywhere cannot be a coincidence."""
    body = "4" + "".join(random.choices("0123456789", k=14))
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def signup(email: str, number: str, **billing: Any) -> dict[str, Any]:
    return {
        "company": {"name": "Initech", "size": "51-200", "website": "https://initech.example"},
        "admin": {
            "email": email,
            "password": PASSWORD,
            "first_name": "Bill",
            "last_name": "Lumbergh",
            "timezone": "America/Chicago",
        },
        "billing": {
            "card_holder_name": "Bill Lumbergh",
            "card_number": number,
            "expiry_month": 12,
            "expiry_year": 2031,
            "cvc": "123",
            "country": "US",
            "postcode": "78701",
            **billing,
        },
    }


async def counts(database: Database) -> dict[str, int]:
    return {name: await database[name].count_documents({}) for name in COUNTED}


async def test_a_company_signs_up(people: People, database: Database) -> None:
    email, number = new_email("admin"), card_number()
    answer = await people.anonymous.expect(
        201, "POST", "/organizations/signup", json=signup(email, number)
    )
    admin, organization = answer.json()["admin"], answer.json()["organization"]
    assert organization["kind"] == "shared" and organization["size"] == "51-200"
    assert organization["billing"] == {
        "provider": "sandbox",
        "card_brand": "visa",
        "card_last4": number[-4:],
        "card_expiry": "12/2031",
    }
    roles = {m["organization_id"]: m["roles"] for m in admin["memberships"]}
    assert roles[organization["id"]] == ["billing_admin", "member", "owner"]
    assert admin["default_organization_id"] == organization["id"]

    assert (await people.login(email)).status == 403, "unconfirmed until the emailed token"
    await people.confirm(email)
    login = await people.login(email)
    assert login.status == 200
    api = people.anonymous.as_caller(login.json()["access_token"])
    inspected = (await api.expect(200, "GET", f"/organizations/{organization['id']}")).json()
    assert inspected["billing"]["card_last4"] == number[-4:]

    stored = await database["organizations"].find_one({"_id": organization["id"]})
    assert stored is not None
    assert set(stored["billing"]) == {
        "provider",
        "customer_id",
        "card_brand",
        "card_last4",
        "card_expiry",
    }
    assert stored["billing"]["customer_id"].startswith("cus_")


@pytest.mark.parametrize(
    ("number", "billing"),
    [
        ("4242 4242 4242 4241", {}),  # a mistyped digit
        ("4242 4242 4242 4242", {"expiry_year": 2020}),
        ("4242 4242 4242 4242", {"cvc": "12"}),
        ("4000 0000 0000 0002", {}),  # the sandbox's declined card
    ],
)
async def test_a_refused_card_stores_nothing(
    people: People, database: Database, number: str, billing: dict[str, Any]
) -> None:
    email = new_email("admin")
    before = await counts(database)
    answer = await people.anonymous.call(
        "POST", "/organizations/signup", json=signup(email, number, **billing)
    )
    assert answer.status == 422, answer.body
    assert number.replace(" ", "") not in answer.body.decode()
    assert await counts(database) == before
    assert await database["users"].find_one({"email": email}) is None


async def test_an_organization_created_with_a_card(people: People) -> None:
    founder = await people.person()
    number = card_number()
    billing = signup("", number)["billing"]
    created = await founder.api.expect(
        201, "POST", "/organizations", json={"name": "Globex", "billing": billing}
    )
    assert created.json()["billing"]["card_last4"] == number[-4:]
    refused = await founder.api.call(
        "POST",
        "/organizations",
        json={"name": "Globex", "billing": {**billing, "card_number": "4242424242424241"}},
    )
    assert refused.status == 422


async def test_an_address_signs_up_once(people: People) -> None:
    person = await people.person()
    answer = await people.anonymous.call(
        "POST", "/organizations/signup", json=signup(person.email, card_number())
    )
    assert answer.status == 409


@pytest.fixture
def identity_process(
    test_infra: TestInfra, tmp_path: Path, service_env: dict[str, str]
) -> Iterator[System]:
    """Identity as its own process logging everything (DEBUG), on the tests' database."""
    ports = free_ports(["identity"])
    system = System(
        StackSettings(
            mongo_url=test_infra.mongo_url,
            amqp_url=test_infra.amqp_url,
            jwks_url=test_infra.jwks_url,
            log_dir=tmp_path,
            ports=ports,
            db_prefix=test_infra.db_name(""),
            log_level="DEBUG",
            env=service_env,
        ),
        [by_name("identity")],
    )
    yield system
    system.stop(grace=5)


async def test_the_card_number_is_never_stored_nor_logged(
    identity_process: System, database: Database
) -> None:
    await asyncio.to_thread(identity_process.start, ["identity"])
    number, refused = card_number(), card_number()[:-1] + "x"
    async with aiohttp.ClientSession() as http:
        api = PlatformClient(http, identity_process.url("identity"), None)
        await api.expect(201, "POST", "/organizations/signup", json=signup(new_email(), number))
        bad = await api.call("POST", "/organizations/signup", json=signup(new_email(), refused))
        assert bad.status == 422
    await asyncio.sleep(0.5)  # the outbox relayed, its lines written
    identity_process.stop(["identity"], grace=5)

    secrets = (number, refused, "card_number")
    for name in await database.list_collection_names():
        async for doc in database[name].find({}):
            text = str(doc)
            assert not any(s in text for s in secrets), (name, doc["_id"])
    [run] = log_runs(identity_process.log_path("identity"))
    assert any(r.get("path") == "/organizations/signup" for r in run), "the log was read"
    logged = identity_process.log_path("identity").read_text()
    assert not any(s in logged for s in secrets)
    assert not any(s in json.dumps(r) for r in run for s in secrets)
