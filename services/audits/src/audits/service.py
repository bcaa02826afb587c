"""The audits service's one use case: keep what an audit event reports, once."""

from __future__ import annotations

from typing import Protocol

from audits.domain import AuditEntry, Outcome
from audits.repository import AuditTrail
from chassis.messaging.subscriptions import EventContext
from contracts.audits import AuditRecorded


class AuditsTransaction(Protocol):
    @property
    def trail(self) -> AuditTrail: ...


class AuditService:
    async def audit_recorded(
        self, tx: AuditsTransaction, event: AuditRecorded, context: EventContext
    ) -> None:
        """Append the entry. Who, for which tenant, when and under which correlation are the
        envelope's; the entry takes the event's id, and the inbox applies each event once."""
        await tx.trail.append(
            AuditEntry(
                id=context.event_id,
                tenant_id=context.tenant_id,
                actor_id=context.actor_id,
                action=event.action,
                target=event.target,
                outcome=Outcome(event.outcome.value),
                detail=event.detail,
                occurred_at=context.occurred_at,
                correlation_id=context.correlation_id,
            )
        )
