"""What the audits service consumes: every service's audit events."""

from __future__ import annotations

from audits.service import AuditService, AuditsTransaction
from chassis.messaging.subscriptions import Subscriptions
from contracts.audits import AuditRecorded


def subscribe(subscriptions: Subscriptions[AuditsTransaction], audits: AuditService) -> None:
    # Queue `audits.audit_recorded`, bound to `platform.audit_recorded` from any producer.
    subscriptions.on_event(AuditRecorded, audits.audit_recorded)
