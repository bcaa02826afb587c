"""A tenant's provisioning: the settings record an organization needs before use, with no I/O.

A tenant is provisioned once per organization: its record's id is the organization's id, so
an organization-created event applied twice finds the record there and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import available_timezones

from chassis.aggregate import Aggregate
from chassis.errors import RuleViolation


class InvalidDefaults(RuleViolation):
    pass


class InvalidOrganization(RuleViolation):
    pass


@dataclass(frozen=True)
class TenantDefaults:
    """What a new tenant starts with until its owners change it."""

    timezone: str
    locale: str
    data_region: str
    plan: str

    def checked(self) -> TenantDefaults:
        if self.timezone not in available_timezones():
            raise InvalidDefaults(f"unknown timezone {self.timezone!r}")
        for name in ("locale", "data_region", "plan"):
            if not getattr(self, name).strip():
                raise InvalidDefaults(f"{name} must not be blank")
        return self


@dataclass(frozen=True)
class TenantProvisioned:
    tenant_id: str
    name: str


@dataclass
class Tenant(Aggregate):
    id: str  # the organization's id
    name: str
    created_by: str
    settings: TenantDefaults
    provisioned_at: datetime

    @classmethod
    def provision(
        cls,
        organization_id: str,
        name: str,
        created_by: str,
        defaults: TenantDefaults,
        now: datetime,
    ) -> Tenant:
        if not name.strip():
            raise InvalidOrganization("the organization's name is blank")
        tenant = cls(organization_id, name.strip(), created_by, defaults.checked(), now)
        tenant.record(TenantProvisioned(tenant.id, tenant.name))
        return tenant
