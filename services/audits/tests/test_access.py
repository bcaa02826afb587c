"""The trail's append-only role on a real mongod that enforces access control: the service's
user inserts and reads entries, and MongoDB itself refuses every change to them."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from audits.access import grant
from audits.repository import ENTRIES, INDEXES
from devstack.infra import mongod_binary
from testkit.waiting import eventually

UNAUTHORIZED = 13
DATABASE = "audits"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
async def mongod_with_auth(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[int]:
    """A mongod of the test's own, standalone, that enforces access control."""
    data: Path = tmp_path_factory.mktemp("mongod-auth")
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        str(mongod_binary()),
        "--auth",
        "--bind_ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--dbpath",
        str(data),
        "--logpath",
        str(data / "mongod.log"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield port
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), timeout=30)


def client(port: int, user: str | None = None, password: str | None = None) -> Any:
    return AsyncMongoClient(
        host="127.0.0.1",
        port=port,
        username=user,
        password=password,
        authSource=DATABASE if user and user != "root" else "admin",
        directConnection=True,
        tz_aware=True,
        serverSelectionTimeoutMS=2000,
    )


@pytest.fixture(scope="module")
async def admin(mongod_with_auth: int) -> AsyncIterator[Any]:
    """A user administrator, made through MongoDB's localhost exception."""
    first = client(mongod_with_auth)

    async def answers() -> bool:
        try:
            await first.admin.command("ping")
        except Exception:
            return False
        return True

    await eventually(answers, timeout=30, interval=0.2)
    await first.admin.command("createUser", "root", pwd="root", roles=["root"])
    await first.close()
    root = client(mongod_with_auth, "root", "root")
    yield root
    await root.close()


async def test_the_services_user_appends_and_reads_and_mongodb_refuses_every_change(
    mongod_with_auth: int, admin: Any
) -> None:
    await grant(admin, DATABASE, "audits", "secret")
    # Granting again, as an operator does with the command, changes nothing.
    granted = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "audits.access", "--database", DATABASE, "--user", "audits"),
        env={
            **os.environ,
            "ADMIN_MONGO_URL": f"mongodb://root:root@127.0.0.1:{mongod_with_auth}/"
            "?authSource=admin&directConnection=true",
            "AUDITS_MONGO_PASSWORD": "secret",
        },
    )
    assert await asyncio.wait_for(granted.wait(), timeout=60) == 0
    service = client(mongod_with_auth, "audits", "secret")
    entries = service[DATABASE][ENTRIES]
    try:
        await entries.create_indexes(INDEXES[ENTRIES])
        entry = {"_id": uuid.uuid4().hex, "action": "cars.car_registered", "target": "car:c1"}
        await entries.insert_one(entry)
        assert await entries.find_one({"_id": entry["_id"]}) == entry

        changes: dict[str, Callable[[], Awaitable[Any]]] = {
            "update": lambda: entries.update_one(
                {"_id": entry["_id"]}, {"$set": {"target": "car:c2"}}
            ),
            "replace": lambda: entries.replace_one({"_id": entry["_id"]}, {"target": "x"}),
            "find and modify": lambda: entries.find_one_and_update(
                {"_id": entry["_id"]}, {"$set": {"outcome": "failed"}}
            ),
            "upsert": lambda: entries.update_one(
                {"_id": "other"}, {"$set": {"target": "x"}}, upsert=True
            ),
            "delete": lambda: entries.delete_one({"_id": entry["_id"]}),
            "delete many": lambda: entries.delete_many({}),
            "drop": entries.drop,
            "drop the database": lambda: service.drop_database(DATABASE),
            "collMod": lambda: service[DATABASE].command("collMod", ENTRIES, validator={}),
            "rename": lambda: entries.rename("gone"),
        }
        refused = {}
        for name, change in changes.items():
            with pytest.raises(OperationFailure) as raised:
                await change()
            refused[name] = raised.value.code
        assert refused == {name: UNAUTHORIZED for name in changes}
        assert await admin[DATABASE][ENTRIES].find_one({"_id": entry["_id"]}) == entry
    finally:
        await service.close()
