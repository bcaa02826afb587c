"""Unit of work: state changes and the events they raise commit together, or not at all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from chassis.logging import current_ids, new_id
from chassis.mongo import Mongo, Session
from chassis.outbox import OutboxRelay, add_to_outbox
from contracts import DomainEvent, Envelope

T = TypeVar("T")


class Tx:
    """What a use case sees inside a transaction: the session and a way to raise events."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.events: list[Envelope] = []

    def publish(
        self, event: DomainEvent, *, tenant_id: str | None, actor_id: str | None
    ) -> Envelope:
        request_id, correlation_id = current_ids()
        causation_id = structlog.contextvars.get_contextvars().get("causation_id") or request_id
        envelope = Envelope.wrap(
            event,
            tenant_id=tenant_id,
            actor_id=actor_id,
            correlation_id=correlation_id or new_id(),
            causation_id=causation_id,
        )
        self.events.append(envelope)
        return envelope


class UnitOfWork:
    def __init__(self, mongo: Mongo, relay: OutboxRelay | None) -> None:
        self.mongo = mongo
        self._relay = relay

    async def run(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        raised: list[Envelope] = []

        async def in_transaction(session: Session) -> T:
            # A fresh Tx per attempt: PyMongo may re-run the callback after a write conflict.
            tx = Tx(session)
            result = await work(tx)
            await add_to_outbox(self.mongo, session, tx.events, current_ids()[0])
            raised[:] = tx.events
            return result

        result = await self.mongo.transaction(in_transaction)
        if self._relay and raised:
            self._relay.notify()
        return result
