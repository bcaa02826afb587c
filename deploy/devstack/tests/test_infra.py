"""MongoDB and RabbitMQ on this machine: reused when running, started otherwise."""

from __future__ import annotations

import asyncio
import time
import uuid
from types import SimpleNamespace
from typing import Any

import aio_pika
import pytest
from pymongo import MongoClient

from devstack import infra
from devstack.infra import amqp_url, create_vhost, delete_vhost, ensure_infra, mongo_url


def test_amqp_url_quotes_the_vhost() -> None:
    assert amqp_url() == "amqp://guest:guest@127.0.0.1:5672/"
    assert amqp_url("t/1") == "amqp://guest:guest@127.0.0.1:5672/t%2F1"
    assert mongo_url(27018) == "mongodb://127.0.0.1:27018/?replicaSet=rs0"


class NoSubprocess:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"subprocess.{name} used though both are running")


def no_sleep(seconds: float) -> None:
    raise AssertionError("waited though both are running")


def test_ensure_infra_reuses_what_runs_without_starting_or_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = ensure_infra()
    # Starting, installing and `rabbitmqctl await_startup` are subprocesses; a wait sleeps.
    monkeypatch.setattr(infra, "subprocess", NoSubprocess())
    monkeypatch.setattr(infra, "time", SimpleNamespace(monotonic=time.monotonic, sleep=no_sleep))
    assert ensure_infra() == first


def test_mongod_is_a_primary_that_runs_transactions() -> None:
    url = ensure_infra().mongo_url
    db_name = f"devstack_test_{uuid.uuid4().hex[:8]}"
    client: MongoClient[dict[str, object]] = MongoClient(url, serverSelectionTimeoutMS=5000)
    with client:
        try:
            with client.start_session() as session, session.start_transaction():
                client[db_name].probe.insert_one({"ok": True}, session=session)
            assert client[db_name].probe.count_documents({}) == 1
        finally:
            client.drop_database(db_name)


def test_a_throwaway_vhost_is_usable_until_deleted() -> None:
    ensure_infra()
    name = f"devstack-test-{uuid.uuid4().hex[:8]}"
    url = create_vhost(name)
    try:
        asyncio.run(_declare_a_queue(url))
    finally:
        delete_vhost(name)
    delete_vhost(name)  # deleting twice is fine
    with pytest.raises(aio_pika.exceptions.AMQPError):
        asyncio.run(_declare_a_queue(url))


async def _declare_a_queue(url: str) -> None:
    connection = await aio_pika.connect(url, timeout=5)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue("probe", auto_delete=True)
