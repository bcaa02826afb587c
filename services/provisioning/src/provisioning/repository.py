"""Tenants' provisioning records in MongoDB: the repository a transaction holds, and the
query that reads outside one."""

from __future__ import annotations

from typing import Protocol

from chassis.storage.documents import Document
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import Scope
from provisioning.domain import Tenant, TenantDefaults

# One record per organization: its `_id` is the organization's id (unique without an index of
# our own), whatever is redelivered.
TENANTS = "tenants"


class TenantRepository(Protocol):
    async def exists(self, tenant_id: str) -> bool: ...

    async def add(self, tenant: Tenant) -> None: ...


class MongoTenants:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._tenants = scope.collection(TENANTS)

    async def exists(self, tenant_id: str) -> bool:
        return await self._tenants.find_one({"_id": tenant_id}) is not None

    async def add(self, tenant: Tenant) -> None:
        # A duplicate `_id` (another transaction provisioning the same organization) aborts
        # this transaction; the event's retry then finds the record and adds nothing.
        await self._tenants.insert_one(tenant_document(tenant))
        self._scope.track(tenant)


class MongoProvisioningTransaction:
    def __init__(self, scope: Scope) -> None:
        self.tenants = MongoTenants(scope)


class TenantQueries:
    def __init__(self, mongo: Mongo) -> None:
        self._tenants = mongo.reader(TENANTS)

    async def tenant(self, tenant_id: str) -> Tenant | None:
        doc = await self._tenants.find_one({"_id": tenant_id})
        return tenant_from(doc) if doc else None


# --- documents <-> domain ---------------------------------------------------------------------


def tenant_document(tenant: Tenant) -> Document:
    return {
        "_id": tenant.id,
        # Named as every service's records name their tenant.
        "tenant_id": tenant.id,
        "name": tenant.name,
        "created_by": tenant.created_by,
        **vars(tenant.settings),
        "provisioned_at": tenant.provisioned_at,
    }


def tenant_from(doc: Document) -> Tenant:
    settings = TenantDefaults(**{name: doc[name] for name in TenantDefaults.__dataclass_fields__})
    return Tenant(doc["_id"], doc["name"], doc["created_by"], settings, doc["provisioned_at"])
