"""What the provisioning service does with other services' events."""

from __future__ import annotations

from chassis.messaging.subscriptions import Subscriptions
from contracts.identity import OrganizationCreated
from provisioning.service import ProvisioningService, ProvisioningTransaction


def subscribe(
    subscriptions: Subscriptions[ProvisioningTransaction], provisioning: ProvisioningService
) -> None:
    subscriptions.on_event(OrganizationCreated, provisioning.organization_created)
