"""Provisioning's events: a tenant is ready for use."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from contracts.envelope import TenantEvent


class TenantProvisioned(TenantEvent):
    """Everything the organization the envelope names needs before use exists."""

    event_type: ClassVar[str] = "provisioning.tenant_provisioned"

    organization_id: str = Field(min_length=1)
