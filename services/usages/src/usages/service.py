"""Use cases of the usages service: record a usage (from a web page, or from another
service's usage event), each in a unit of work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from chassis.clock import Clock, utc_now
from chassis.messaging.subscriptions import EventContext
from chassis.storage.unit_of_work import UnitOfWork
from contracts.usages import UsageRecorded
from usages.domain import Kind, Usage, Who
from usages.repository import UsageLog

# Who a service's usage event is counted for when it names no actor (a sweep, a system job).
PLATFORM = "platform"


class UsagesTransaction(Protocol):
    @property
    def usages(self) -> UsageLog: ...


class UsageService:
    def __init__(self, uow: UnitOfWork[UsagesTransaction], clock: Clock = utc_now) -> None:
        self._uow = uow
        self._clock = clock

    async def record(
        self, kind: Kind, event: str, who: Who, properties: Mapping[str, Any]
    ) -> Usage:
        usage = Usage.record(kind, event, who, self._clock(), properties)

        async def work(tx: UsagesTransaction) -> Usage:
            await tx.usages.add(usage)
            return usage

        return await self._uow.run(work, tenant_id=who.tenant_id, actor_id=who.distinct_id)

    async def usage_recorded(
        self, tx: UsagesTransaction, event: UsageRecorded, context: EventContext
    ) -> None:
        """A service's product action: counted for its actor, in its tenant; the event's id
        is the usage's, which the analytics service dedupes a repeated delivery by."""
        actor = context.actor_id
        who = Who(actor or context.tenant_id or PLATFORM, bool(actor), context.tenant_id)
        await tx.usages.add(
            Usage.record(
                Kind.EVENT,
                event.event,
                who,
                context.occurred_at,
                event.properties,
                usage_id=context.event_id,
            )
        )
