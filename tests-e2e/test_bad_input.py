"""Bad input through the gateway: each a clear 4xx problem, and nothing stored (read from the
services' databases: the API does not show pending bookings or the outbox)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from devstack.system import System
from testkit.api import PlatformClient, car_details
from testkit.clock import hours_from_now
from testkit.identity import Person
from testkit.stored import Databases, stored_for
from testkit.tokens import DevSigningKey, unsigned_token


async def test_malformed_and_mistyped_bodies(
    client: PlatformClient, database: Databases, tenant: str
) -> None:
    malformed = await client.call(
        "POST", "/cars", data=b'{"make": "VW",', headers={"Content-Type": "application/json"}
    )
    malformed.problem(400)
    mistyped = await client.call("POST", "/cars", json={**car_details(), "year": "new"})
    errors = mistyped.problem(422).errors
    assert errors and errors[0].field == "year"
    assert await stored_for(database("cars"), tenant) == {}


async def test_unknown_car_and_backwards_frames(
    client: PlatformClient, database: Databases, tenant: str
) -> None:
    unknown = client.trip("c0ffee", hours_from_now(1), hours_from_now(2))
    (await client.call("POST", "/bookings", json=unknown)).problem(422)
    (await client.call("GET", "/cars/c0ffee")).problem(404)
    backwards = {**unknown, "start_utc": hours_from_now(3)}
    (await client.call("POST", "/bookings", json=backwards)).problem(422)
    window = {"from_utc": hours_from_now(3), "to_utc": hours_from_now(1)}
    (await client.call("GET", "/cars/available", params=window)).problem(422)
    # The unknown car's booking was stored pending before cars was asked: it is gone, and
    # only the refusal's audit record was left to publish.
    assert await stored_for(database("bookings"), tenant) == {"outbox": 1}


@pytest.mark.parametrize(
    "kind",
    [
        "missing",
        "tampered",
        "expired",
        "alg_none",
        "foreign_key",
        "not_bearer",
        "no_audience",
        "not_yet_valid",
        "tenant_not_a_string",
    ],
)
async def test_bad_tokens(
    anonymous: PlatformClient,
    person: Person,
    identity_key: DevSigningKey,
    kind: str,
    tenant: str,
    database: Databases,
) -> None:
    """Each refused at the edge: the ones made with identity's own key for what they say."""
    valid, key = person.access_token, identity_key
    header = {
        "missing": None,
        "tampered": f"Bearer {valid[:-6]}AAAAAA",
        "expired": f"Bearer {key.mint(tenant_id=tenant, expires_in=-timedelta(minutes=5))}",
        "alg_none": "Bearer "
        + unsigned_token(
            {
                "sub": "x",
                "tenant_id": tenant,
                "iss": "platform-identity",
                "aud": "platform",
                "exp": int(time.time()) + 600,
                "roles": ["standard"],
            }
        ),
        # Another key under the kid of identity's.
        "foreign_key": "Bearer "
        + DevSigningKey(DevSigningKey.generate().private_pem, key.kid).mint(tenant_id=tenant),
        "not_bearer": f"Basic {valid}",
        "no_audience": f"Bearer {key.mint(tenant_id=tenant, without=['aud'])}",
        "not_yet_valid": f"Bearer {key.mint(tenant_id=tenant, not_before=timedelta(minutes=5))}",
        "tenant_not_a_string": "Bearer "
        + key.sign({**key.claims(tenant_id=tenant), "tenant_id": [tenant]}),
    }[kind]
    sent = {"Authorization": header} if header else {}
    answer = await anonymous.call("POST", "/cars", json=car_details(make="VW"), headers=sent)
    assert answer.problem(401).detail
    assert "WWW-Authenticate" in answer.headers
    assert await stored_for(database("cars"), tenant) == {}, "nothing was stored"


@pytest.mark.parametrize("service", ["gateway", "cars"])
async def test_oversized_header_fields(
    system: System, anonymous: PlatformClient, service: str
) -> None:
    """Refused by aiohttp before any handler runs, and still a problem, at the edge and
    straight at a service."""
    direct = PlatformClient(anonymous.http, system.url(service), None)
    answer = await direct.call("GET", "/health", headers={"X-Big": "x" * 9000})
    assert answer.problem(431).title == "Request Header Fields Too Large"
