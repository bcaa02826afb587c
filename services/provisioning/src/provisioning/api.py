"""HTTP routes of the provisioning service: a tenant's provisioning record, for those who may
read the tenant's records."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel

from chassis.errors import NotFound
from chassis.web.auth import readable_tenant
from chassis.web.openapi import Route
from chassis.web.parsing import json_response
from provisioning.domain import Tenant
from provisioning.repository import TenantQueries

TENANT = "/tenants/{tenant_id}"


class TenantNotProvisioned(NotFound):
    pass


class TenantOut(BaseModel):
    id: str
    name: str
    created_by: str
    timezone: str
    locale: str
    data_region: str
    plan: str
    provisioned_at: datetime

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        settings = tenant.settings
        return cls(
            id=tenant.id,
            name=tenant.name,
            created_by=tenant.created_by,
            timezone=settings.timezone,
            locale=settings.locale,
            data_region=settings.data_region,
            plan=settings.plan,
            provisioned_at=tenant.provisioned_at,
        )


def routes(queries: TenantQueries) -> list[Route]:
    async def inspect(request: web.Request) -> web.Response:
        # Operators read any tenant's record, its owners their own; anyone else is 403.
        tenant_id = readable_tenant(request, request.match_info["tenant_id"]) or ""
        tenant = await queries.tenant(tenant_id)
        if tenant is None:
            raise TenantNotProvisioned(f"tenant {tenant_id} is not provisioned")
        return json_response(TenantOut.of(tenant))

    return [
        Route(
            "GET",
            TENANT,
            inspect,
            "A tenant's provisioning record and settings (operators; the tenant's owners)",
            response=TenantOut,
            errors=(403, 404),
        )
    ]
