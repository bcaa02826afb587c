"""Work handed over from memory once its transaction commits: to the workers of the process,
never before the commit nor for a transaction that did not commit, side by side up to the
number of workers, in the log context of the commit, finished when the workers stop."""

from __future__ import annotations

import asyncio

import pytest
import structlog
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import OperationFailure

from chassis.handover import Handover
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import MongoUnitOfWork, Scope


class Boom(Exception):
    pass


class Recorder:
    """Work that takes a while, recording what ran, how many at once and in which context."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds
        self.done: list[str] = []
        self.contexts: dict[str, object] = {}
        self.running = 0
        self.most_at_once = 0

    async def __call__(self, item: str) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            self.contexts[item] = structlog.contextvars.get_contextvars().get("correlation_id")
            if item == "fails":
                raise Boom(item)
            await asyncio.sleep(self.seconds)
            self.done.append(item)
        finally:
            self.running -= 1


@pytest.fixture
async def mongo(make_settings):
    mongo = Mongo.of(make_settings("handover"))
    yield mongo
    await mongo.stop()


async def test_work_is_done_side_by_side_by_the_workers_in_the_context_it_was_put_in(eventually):
    work = Recorder()
    handover = Handover(work, workers=3, limit=100, name="test")
    await handover.start()
    try:
        for n in range(9):
            with structlog.contextvars.bound_contextvars(correlation_id=f"c-{n}"):
                handover.put(f"item-{n}")
        with structlog.contextvars.bound_contextvars(correlation_id="c-fails"):
            handover.put("fails")
        await eventually(lambda: len(work.done) == 9)
    finally:
        await handover.stop()

    assert sorted(work.done) == sorted(f"item-{n}" for n in range(9))
    assert work.most_at_once == 3
    assert work.contexts == {f"item-{n}": f"c-{n}" for n in range(9)} | {"fails": "c-fails"}


async def test_it_accepts_work_only_while_running_and_not_behind() -> None:
    work = Recorder(seconds=0.2)
    handover = Handover(work, workers=1, limit=2, name="test")
    assert not handover.accepts(), "not started"
    await handover.start()
    assert handover.accepts()
    handover.put("a")
    handover.put("b")
    assert not handover.accepts(), "two in hand, its limit"
    await handover.stop()
    assert not handover.accepts(), "stopped"
    assert work.done == ["a", "b"], "what was in hand is finished when it stops"

    handover.put("late")  # committed after the stop: left to the owner's sweep
    await asyncio.sleep(0.3)
    assert work.done == ["a", "b"]


async def test_stopping_gives_up_on_work_that_outlasts_the_drain() -> None:
    work = Recorder(seconds=5)
    handover = Handover(work, workers=1, limit=10, name="test", drain_seconds=0.1)
    await handover.start()
    handover.put("slow")
    handover.put("never")
    await asyncio.wait_for(handover.stop(), timeout=2)
    assert work.done == []
    assert handover.in_hand == 1, "left for the sweep"


async def test_a_commit_tells_its_after_commit_callbacks_and_a_failed_one_never(mongo):
    uow = MongoUnitOfWork(mongo, lambda scope: scope)
    told: list[str] = []

    async def work(tx: Scope, name: str, fail: bool = False) -> None:
        await tx.collection("things").insert_one({"name": name})
        tx.after_commit(lambda: told.append(name))
        assert name not in told, "not before the commit"
        if fail:
            raise Boom(name)

    await uow.run(lambda tx: work(tx, "kept"), tenant_id=None)
    with pytest.raises(Boom):
        await uow.run(lambda tx: work(tx, "rolled back", fail=True), tenant_id=None)

    assert told == ["kept"]
    assert [d["name"] async for d in mongo.raw("things").find({})] == ["kept"]


async def test_a_transaction_run_again_tells_its_callbacks_once(mongo, monkeypatch):
    uow = MongoUnitOfWork(mongo, lambda scope: scope)
    real_commit = AsyncClientSession.commit_transaction
    failures: list[str] = []

    async def commit_failing_once(session: AsyncClientSession) -> None:
        if not failures:
            failures.append("commit")
            await session.abort_transaction()
            raise OperationFailure(
                "write conflict at commit",
                code=112,
                details={"errorLabels": ["TransientTransactionError"]},
            )
        await real_commit(session)

    monkeypatch.setattr(AsyncClientSession, "commit_transaction", commit_failing_once)
    told: list[int] = []
    runs: list[int] = []

    async def work(tx: Scope) -> None:
        runs.append(len(runs))
        attempt = runs[-1]
        await tx.collection("things").insert_one({"attempt": attempt})
        tx.after_commit(lambda: told.append(attempt))

    await uow.run(work, tenant_id=None)

    assert runs == [0, 1], "the first commit failed and the work ran again"
    assert told == [1], "only the attempt that committed"
