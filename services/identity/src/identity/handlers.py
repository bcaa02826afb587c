"""What identity does with other services' events."""

from __future__ import annotations

from chassis.messaging.subscriptions import Subscriptions
from contracts.provisioning import TenantProvisioned
from identity.organizations.service import OrganizationService, OrganizationsTransaction


def subscribe(
    subscriptions: Subscriptions[OrganizationsTransaction], organizations: OrganizationService
) -> None:
    subscriptions.on_event(TenantProvisioned, organizations.tenant_provisioned)
