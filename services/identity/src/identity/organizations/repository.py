"""Organizations in MongoDB."""

from __future__ import annotations

from dataclasses import asdict
from typing import Protocol

from chassis.storage.documents import Document
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import Scope
from identity.organizations.domain import (
    BillingAccount,
    CompanySize,
    Organization,
    OrganizationKind,
)

ORGANIZATIONS = "organizations"


class OrganizationRepository(Protocol):
    async def get(self, organization_id: str) -> Organization | None: ...

    async def add(self, organization: Organization) -> None: ...

    async def save(self, organization: Organization) -> None: ...


class MongoOrganizations:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._organizations = scope.collection(ORGANIZATIONS)

    async def get(self, organization_id: str) -> Organization | None:
        doc = await self._organizations.find_one({"_id": organization_id})
        if doc is None:
            return None
        organization = organization_from(doc)
        self._scope.track(organization)
        return organization

    async def add(self, organization: Organization) -> None:
        await self._organizations.insert_one(organization_document(organization))
        self._scope.track(organization)

    async def save(self, organization: Organization) -> None:
        await self._organizations.replace_one(
            {"_id": organization.id}, organization_document(organization)
        )


class OrganizationQueries:
    def __init__(self, mongo: Mongo) -> None:
        self._organizations = mongo.reader(ORGANIZATIONS)

    async def organization(self, organization_id: str) -> Organization | None:
        doc = await self._organizations.find_one({"_id": organization_id})
        return organization_from(doc) if doc else None


# --- documents <-> domain ---------------------------------------------------------------------


def organization_document(organization: Organization) -> Document:
    return {
        "_id": organization.id,
        # Named as every service's records name their tenant: an organization is one.
        "tenant_id": organization.id,
        "name": organization.name,
        "kind": organization.kind.value,
        "created_by": organization.created_by,
        "created_at": organization.created_at,
        "billing": asdict(organization.billing) if organization.billing else None,
        "provisioned_at": organization.provisioned_at,
        "size": organization.size.value if organization.size else None,
        "website": organization.website,
    }


def organization_from(doc: Document) -> Organization:
    return Organization(
        doc["_id"],
        doc["name"],
        OrganizationKind(doc["kind"]),
        doc["created_by"],
        doc["created_at"],
        BillingAccount(**doc["billing"]) if doc["billing"] else None,
        doc["provisioned_at"],
        # Absent from organizations stored before companies signed up with them.
        CompanySize(doc["size"]) if doc.get("size") else None,
        doc.get("website"),
    )
