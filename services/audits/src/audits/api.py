"""HTTP routes of the audits service: reading the trail, for those allowed to."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from audits.domain import AuditEntry, Outcome
from audits.repository import AuditQueries
from chassis.web.auth import readable_tenant
from chassis.web.openapi import Route
from chassis.web.parsing import Page, json_response, read_query


class AuditQuery(Page):
    model_config = ConfigDict(extra="forbid")

    organization_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Whose entries; operators may leave it out to read every one's.",
    )
    since: AwareDatetime | None = Field(
        default=None, description="Only entries that occurred at or after this instant."
    )


class AuditEntryOut(BaseModel):
    id: str
    organization_id: str | None
    actor_id: str | None
    action: str
    target: str
    outcome: Outcome
    detail: str | None
    occurred_at: datetime
    correlation_id: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.id,
            organization_id=entry.tenant_id,
            actor_id=entry.actor_id,
            action=entry.action,
            target=entry.target,
            outcome=entry.outcome,
            detail=entry.detail,
            occurred_at=entry.occurred_at,
            correlation_id=entry.correlation_id,
        )


def routes(queries: AuditQueries) -> list[Route]:
    async def trail(request: web.Request) -> web.Response:
        query = read_query(request, AuditQuery)
        tenant = readable_tenant(request, query.organization_id)
        found = await queries.entries(tenant, query.since, query.limit, query.offset)
        return json_response([AuditEntryOut.of(entry) for entry in found])

    return [
        Route(
            "GET",
            "/audits",
            trail,
            "The audit trail, newest first: operators read any organization's (or every "
            "one's), an organization's owners their own",
            query=AuditQuery,
            response=list[AuditEntryOut],
            errors=(403,),
        ),
    ]
