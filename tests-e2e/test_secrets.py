"""No password, refresh token or API key secret is stored or logged in clear: after a person
registers, logs in, refreshes, creates, uses and regenerates an API key, registers a machine
and resets their password, through the gateway, none of those secrets is in any document of
the system's databases (identity's outbox included) nor in any service's log, while the
digests identity finds them by are stored, and the logs recorded those calls.

The services log at INFO, the level they run at. A DEBUG run of the whole system (a second
one, some 20 s) would add none of our own lines that could carry a secret (the one debug line
of our code logs ids), and the chassis keeps the drivers' loggers (pymongo, aio_pika) at
WARNING whatever the level; identity alone logging at DEBUG is searched for API keys by
`services/identity/tests/test_apikey_secrets.py`.
"""

from __future__ import annotations

import uuid

import bson

from devstack.system import System
from identity.opaque import digest
from testkit.api import PlatformClient
from testkit.identity import People
from testkit.logs import log_runs, named
from testkit.stored import Databases


async def stored(database: Databases, services: list[str]) -> dict[str, list[bytes]]:
    """Every document of each service's database, as the bytes MongoDB holds, by service."""
    found: dict[str, list[bytes]] = {}
    for service in services:
        db = database(service)
        found[service] = [
            bson.encode(document)
            for name in await db.list_collection_names()
            async for document in db[name].find()
        ]
    return found


async def test_no_secret_is_stored_or_logged_in_clear(
    people: People, anonymous: PlatformClient, database: Databases, system: System
) -> None:
    password = f"Secret-{uuid.uuid4().hex}-1"
    person = await people.person(password=password)
    refresh_tokens = [person.tokens["refresh_token"]]
    refresh_tokens.append((await people.refreshed(person)).tokens["refresh_token"])

    created = (await person.api.expect(201, "POST", "/apikeys", json={})).json()
    await anonymous.with_api_key(created["api_key"]).expect(200, "GET", "/users/me")
    path = f"/apikeys/{created['id']}/regenerate"
    regenerated = (await person.api.expect(200, "POST", path)).json()
    exchange = {"api_key": regenerated["api_key"]}
    await anonymous.expect(200, "POST", "/tokens/exchange", json=exchange)
    machine = await anonymous.expect(201, "POST", "/machines/register", json={"name": "meter"})
    api_keys = [created["api_key"], regenerated["api_key"], machine.json()["api_key"]]

    await anonymous.expect(202, "POST", "/credentials/reset", json={"email": person.email})
    new_password = f"Secret-{uuid.uuid4().hex}-2"
    completion = {
        "token": await people.token(person.email, "password_reset", 1),
        "password": new_password,
    }
    await anonymous.expect(204, "POST", "/credentials/reset/complete", json=completion)
    login = (await people.login(person.email, new_password)).json()
    refresh_tokens.append(login["refresh_token"])

    secrets = [password, new_password, *refresh_tokens, *api_keys]
    services = [s.name for s in system.services if s.stores]
    documents = await stored(database, services)
    for service, raw in documents.items():
        for secret in secrets:
            assert not any(secret.encode() in document for document in raw), (
                f"{service}'s database holds a secret in clear"
            )
    # The scan reads where identity keeps them: as digests.
    held = documents["identity"]
    for secret in (login["refresh_token"], regenerated["api_key"], api_keys[2]):
        assert any(digest(secret).encode() in document for document in held)

    for each in system.services:
        text = system.log_path(each.name).read_text()
        for secret in secrets:
            assert secret not in text, f"{each.name}'s log holds a secret in clear"
    # The logs are the ones that recorded these calls.
    paths = {
        record["path"]
        for run in log_runs(system.log_path("identity"))
        for record in named(run, "http.request")
    }
    assert {"/credentials/auth", "/tokens/refresh", "/tokens/exchange", "/apikeys"} <= paths
