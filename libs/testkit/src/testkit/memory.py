"""An in-memory unit of work, to test a service's use cases in milliseconds.

Like cosmicpython's fake unit of work: the use cases run unchanged, on repositories that keep
their state in plain Python objects. A run commits all or nothing (it works on a copy of the
state, kept only when the work succeeds) and publishes what the aggregates recorded, through
the service's own `translate`, wrapped as the real unit of work wraps it; `published` keeps
those envelopes. MongoDB and RabbitMQ are proven elsewhere (repository, API, end-to-end tests).
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from chassis.logging import new_id
from chassis.messaging.subscriptions import context_of
from chassis.storage.unit_of_work import Recording, Scopes, Translate
from contracts import Envelope, IntegrationEvent

S = TypeVar("S")
TxT = TypeVar("TxT")
R = TypeVar("R")
E = TypeVar("E", bound=IntegrationEvent)


class InMemoryUnitOfWork(Generic[S, TxT]):
    def __init__(
        self,
        state: S,
        transaction: Callable[[S, Recording], TxT],
        translate: Translate | None = None,
    ) -> None:
        """`transaction` makes the service's transaction object over a state and the
        recording its repositories track aggregates in."""
        self.state = state
        self.published: list[Envelope] = []
        self.commits = 0
        self._make = transaction
        self._translate = translate

    async def run(
        self,
        work: Callable[[TxT], Awaitable[R]],
        *,
        tenant_id: str | None,
        actor_id: str | None = None,
    ) -> R:
        return await self.atomically(lambda tx: work(tx.scope(tenant_id, actor_id)))

    async def atomically(self, work: Callable[[Scopes[TxT]], Awaitable[R]]) -> R:
        transaction = _Transaction(copy.deepcopy(self.state), self._make)
        result = await work(transaction)
        envelopes = [e for r in transaction.recordings for e in r.envelopes(self._translate)]
        for recording in transaction.recordings:
            recording.committed()
        self.state = transaction.working
        self.published += envelopes
        self.commits += 1
        return result

    async def deliver(
        self,
        handler: Callable[[TxT, E, Any], Awaitable[None]],
        event: E,
        *,
        tenant_id: str | None,
        actor_id: str | None = None,
    ) -> None:
        """Apply `event` through an event handler as a subscription hands it over: in a
        unit of work for the envelope's tenant and actor, with the context of the envelope
        (refused, as a subscription refuses it, if a tenant's event names no tenant)."""
        envelope = Envelope.wrap(
            event, tenant_id=tenant_id, actor_id=actor_id, correlation_id=new_id()
        )
        data, context = envelope.payload(type(event)), context_of(envelope)
        await self.run(
            lambda tx: handler(tx, data, context), tenant_id=tenant_id, actor_id=actor_id
        )

    def events(self, kind: type[E]) -> list[E]:
        """The published events of one kind, oldest first."""
        return [e.payload(kind) for e in self.published if e.type == kind.event_type]


class _Transaction(Generic[S, TxT]):
    """One run's working copy of the state, and the scopes opened on it."""

    def __init__(self, working: S, make: Callable[[S, Recording], TxT]) -> None:
        self.working = working
        self.recordings: list[Recording] = []
        self._make = make

    def scope(self, tenant_id: str | None, actor_id: str | None) -> TxT:
        recording = Recording(tenant_id, actor_id)
        self.recordings.append(recording)
        return self._make(self.working, recording)
