"""No API key is kept or logged in clear: identity runs as its own process logging at DEBUG
(devstack's `System`, as `make run` starts it), keys are created, regenerated, exchanged,
refused and deleted, and a machine is registered; then every collection of its database,
the outbox included, and its whole log are searched for each key."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from bson import json_util
from pymongo import AsyncMongoClient

from chassis.storage.outbox import OUTBOX
from devstack.system import StackSettings, System, free_ports
from testkit.api import PlatformClient
from testkit.fixtures import TestInfra
from testkit.identity import Mailbag, People
from testkit.logs import log_runs, named

from .conftest import SERVICE_SETTINGS

SERVICE = "identity"


@pytest.fixture
async def identity_process(test_infra: TestInfra, tmp_path: Path) -> AsyncIterator[System]:
    system = System(
        StackSettings(
            mongo_url=test_infra.mongo_url,
            amqp_url=test_infra.amqp_url,
            jwks_url=test_infra.jwks_url,
            log_dir=tmp_path,
            ports=free_ports([SERVICE]),
            # Its own database, dropped with the test run's.
            db_prefix=test_infra.db_name("secrets_"),
            log_level="DEBUG",
            # As the in-process instance declares the same queues.
            env={name.upper(): str(value) for name, value in SERVICE_SETTINGS.items()},
        ),
        [SERVICE],
    )
    await asyncio.to_thread(system.start)
    yield system
    await asyncio.to_thread(system.stop, None, 5)


async def test_no_api_key_is_stored_or_logged(
    identity_process: System, mail: Mailbag, test_infra: TestInfra
) -> None:
    async with aiohttp.ClientSession() as http:
        anonymous = PlatformClient(http, identity_process.url(SERVICE), None)
        person = await People(anonymous, mail.token).person()
        secrets = await use_keys(anonymous, person.api)
    await asyncio.to_thread(identity_process.stop, None, 5)

    digests = {hashlib.sha256(s.encode()).hexdigest() for s in secrets}
    stored = await stored_documents(test_infra.mongo_url, test_infra.db_name("secrets_identity"))
    assert stored["api_keys"] and stored[OUTBOX], "the search covers keys and events"
    for collection, texts in stored.items():
        for text in texts:
            assert not any(secret in text for secret in secrets), collection
            if collection != "api_keys":
                assert not any(digest in text for digest in digests), collection

    log = identity_process.log_path(SERVICE)
    [run] = log_runs(log)
    exchanges = [r for r in named(run, "http.request") if r["path"] == "/tokens/exchange"]
    assert len(exchanges) >= 5, "the log holds the requests (DEBUG)"
    text = log.read_text()
    assert not any(secret in text for secret in secrets)


async def use_keys(anonymous: PlatformClient, api: PlatformClient) -> list[str]:
    """Every key's life: each secret that existed."""
    created = (await api.expect(201, "POST", "/apikeys", json={"description": "x"})).json()
    key = f"/apikeys/{created['id']}"
    renewed = (await api.expect(200, "POST", key + "/regenerate")).json()
    machine = (await anonymous.expect(201, "POST", "/machines/register", json={"name": "m"})).json()
    member = (await api.expect(201, "POST", "/machines/register", json={"name": "n"})).json()
    secrets = [created["api_key"], renewed["api_key"], machine["api_key"], member["api_key"]]

    async def exchange(secret: str) -> int:
        answer = await anonymous.call("POST", "/tokens/exchange", json={"api_key": secret})
        return answer.status

    assert [await exchange(s) for s in secrets] == [401, 200, 200, 200]
    await api.expect(204, "DELETE", key)
    assert await exchange(renewed["api_key"]) == 401
    return secrets


async def stored_documents(mongo_url: str, database: str) -> dict[str, list[str]]:
    """Every document of every collection, as extended JSON text."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        db = client[database]
        return {
            name: [json_util.dumps(doc) async for doc in db[name].find({})]
            for name in await db.list_collection_names()
        }
    finally:
        await client.close()
