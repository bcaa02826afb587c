"""Unit of work: state changes and the events they raise commit together, or not at all.

A use case runs in a transaction object of its service's own making, whose repositories are
bound to the transaction (`tx.cars.add(car)`): it never sees a session, and nothing it
writes can escape the transaction. The transaction is made from a `Scope`: the session-bound
collections, plus the tenant and actor the use case acts for, bound once. On commit the unit
of work collects what the aggregates recorded, has the service turn those domain events into
integration events (`translate`), wraps them in envelopes and writes them to the outbox in
the same transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar

import structlog

from chassis.aggregate import Aggregate
from chassis.logging import new_id
from chassis.storage.documents import Writer
from chassis.storage.mongo import Indexes, Mongo, Session
from chassis.storage.outbox import OUTBOX, OUTBOX_INDEXES, Handoff, add_to_outbox
from contracts import Envelope, IntegrationEvent

R = TypeVar("R")
TxT_co = TypeVar("TxT_co", covariant=True)

# What a service publishes of one of its domain events: the integration event other services
# are told, and its audit and usage records (`contracts.audits`, `contracts.usages`); nothing
# keeps the event inside.
Translate = Callable[[object], Iterable[IntegrationEvent]]


class Scopes(Protocol[TxT_co]):
    def scope(self, tenant_id: str | None, actor_id: str | None) -> TxT_co:
        """A use case's part of the transaction, acting for the tenant and actor, with the
        log context bound now (its correlation id goes on the events it raises)."""
        ...


class UnitOfWork(Protocol[TxT_co]):
    async def run(
        self,
        work: Callable[[TxT_co], Awaitable[R]],
        *,
        tenant_id: str | None,
        actor_id: str | None = None,
    ) -> R:
        """Run `work` in one transaction acting for the tenant and actor; its events are
        published for them. Raises what `work` raises, and then nothing is stored."""
        ...

    async def atomically(self, work: Callable[[Scopes[TxT_co]], Awaitable[R]]) -> R:
        """Run `work` in one transaction with as many scopes as it opens (a batch of use
        cases, each for its own tenant and correlation, committed together)."""
        ...


class Recording:
    """What one use case raised: integration events published directly, and the aggregates
    whose recorded domain events are collected when it is done."""

    def __init__(self, tenant_id: str | None, actor_id: str | None) -> None:
        self.tenant_id = tenant_id
        self.actor_id = actor_id
        # The ids of the request or message being handled now, which the events carry on.
        bound = structlog.contextvars.get_contextvars()
        self.request_id: str | None = bound.get("request_id")
        self.correlation_id: str = bound.get("correlation_id") or new_id()
        # Raised while handling an event: caused by that event (bound by the consumer).
        self.causation_id: str | None = bound.get("causation_id") or self.request_id
        self._published: list[IntegrationEvent] = []
        self._tracked: dict[int, Aggregate] = {}
        self._after_commit: list[Callable[[], None]] = []

    @property
    def tenant(self) -> str:
        """The tenant acted for; for use cases that only ever act for one."""
        if not self.tenant_id:
            raise ValueError("this unit of work acts for no tenant")
        return self.tenant_id

    def publish(self, event: IntegrationEvent) -> None:
        self._published.append(event)

    def track(self, aggregate: Aggregate) -> None:
        """Collect `aggregate`'s recorded events at the end (repositories call this)."""
        self._tracked.setdefault(id(aggregate), aggregate)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the transaction has committed; never if it did not (a
        transaction PyMongo runs again starts a fresh recording)."""
        self._after_commit.append(callback)

    def committed(self) -> None:
        """The events went out with the commit: the aggregates forget them, and what waited
        for the commit is told."""
        for aggregate in self._tracked.values():
            aggregate.forget_recorded()
        for callback in self._after_commit:
            callback()

    def envelopes(self, translate: Translate | None) -> list[Envelope]:
        events = list(self._published)
        for aggregate in self._tracked.values():
            for recorded in aggregate.recorded:
                if translate is not None:
                    events.extend(translate(recorded))
        return [
            Envelope.wrap(
                event,
                tenant_id=self.tenant_id,
                actor_id=self.actor_id,
                correlation_id=self.correlation_id,
                causation_id=self.causation_id,
            )
            for event in events
        ]


class Scope(Recording):
    """A use case's part of a MongoDB transaction: collections bound to its session."""

    def __init__(
        self, transaction: Transaction[Any], tenant_id: str | None, actor_id: str | None
    ) -> None:
        super().__init__(tenant_id, actor_id)
        self.collection = transaction.collection


class Transaction(Generic[TxT_co]):
    """One MongoDB transaction, which may serve several use cases, each in its own scope
    (a batch of events, each for its own tenant, commits as one)."""

    def __init__(self, mongo: Mongo, session: Session, make: Callable[[Scope], TxT_co]) -> None:
        self._mongo = mongo
        self._session = session
        self._make = make
        self._scopes: list[Scope] = []
        self._writers: dict[str, Writer] = {}

    def collection(self, name: str) -> Writer:
        writer = self._writers.get(name)
        if writer is None:
            writer = self._writers[name] = Writer(self._mongo.raw(name), self._session)
        return writer

    async def flush(self) -> None:
        """Send every collection's deferred writes (before the commit)."""
        for writer in self._writers.values():
            await writer.flush()

    def scope(self, tenant_id: str | None, actor_id: str | None) -> TxT_co:
        scope = Scope(self, tenant_id, actor_id)
        self._scopes.append(scope)
        return self._make(scope)

    def committed(self) -> None:
        for scope in self._scopes:
            scope.committed()

    def outgoing(self, translate: Translate | None) -> list[tuple[Envelope, str | None]]:
        """Every scope's events, each with the request id it was raised under."""
        return [
            (envelope, scope.request_id)
            for scope in self._scopes
            for envelope in scope.envelopes(translate)
        ]


class MongoUnitOfWork(Generic[TxT_co]):
    def __init__(
        self,
        mongo: Mongo,
        transaction: Callable[[Scope], TxT_co],
        translate: Translate | None = None,
        after_commit: Handoff | None = None,
    ) -> None:
        """`transaction` makes the service's transaction object from a scope; `after_commit`
        (the relay) is handed each commit's events, to publish them at once."""
        self._mongo = mongo
        self._make = transaction
        self._translate = translate
        self._after_commit = after_commit
        mongo.declare({OUTBOX: OUTBOX_INDEXES})

    def declare_indexes(self, indexes: Indexes) -> None:
        """Indexes of collections written through this unit of work (the inbox's, say)."""
        self._mongo.declare(indexes)

    async def run(
        self,
        work: Callable[[TxT_co], Awaitable[R]],
        *,
        tenant_id: str | None,
        actor_id: str | None = None,
    ) -> R:
        return await self.atomically(lambda tx: work(tx.scope(tenant_id, actor_id)))

    async def atomically(self, work: Callable[[Transaction[TxT_co]], Awaitable[R]]) -> R:
        """Run `work` in one MongoDB transaction, with as many scopes as it opens."""
        attempts: list[tuple[Transaction[TxT_co], list[dict[str, Any]]]] = []
        handoff = self._after_commit

        async def attempt(session: Session) -> R:
            # A fresh transaction per attempt: PyMongo re-runs this after a transient error,
            # in the callback or at commit.
            tx = Transaction(self._mongo, session, self._make)
            result = await work(tx)
            await tx.flush()
            outgoing = tx.outgoing(self._translate)
            lease = handoff.lease() if handoff is not None and outgoing else None
            rows = await add_to_outbox(tx.collection(OUTBOX), outgoing, lease)
            attempts.append((tx, rows))
            return result

        result = await self._mongo.transaction(attempt)
        tx, rows = attempts[-1]
        tx.committed()
        if rows and handoff is not None:
            handoff.committed(rows)
        return result
