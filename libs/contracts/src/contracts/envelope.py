"""The event envelope every service publishes and consumes (see DESIGN.md, "Events")."""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Self, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class IntegrationEvent(BaseModel):
    """The `data` of an envelope: what one service tells the others. Subclasses name their
    routing key and schema version. (A service's own domain events stay inside it.)"""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    version: ClassVar[int] = 1


class TenantEvent(IntegrationEvent):
    """An event about one tenant's data: its envelope always names the tenant."""


E = TypeVar("E", bound=IntegrationEvent)


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID
    type: str = Field(min_length=3, pattern=r"^[a-z_]+\.[a-z_]+$")
    version: int = Field(ge=1)
    occurred_at: AwareDatetime
    tenant_id: str | None = None
    actor_id: str | None = None
    correlation_id: str = Field(min_length=1)
    causation_id: str | None = None
    data: dict[str, Any]

    @classmethod
    def wrap(
        cls,
        event: IntegrationEvent,
        *,
        tenant_id: str | None,
        actor_id: str | None,
        correlation_id: str,
        causation_id: str | None = None,
    ) -> Self:
        if isinstance(event, TenantEvent) and not tenant_id:
            raise ValueError(f"{event.event_type} is a tenant's event: name the tenant")
        return cls(
            id=uuid.uuid4(),
            type=event.event_type,
            version=event.version,
            occurred_at=datetime.now(UTC),
            tenant_id=tenant_id,
            actor_id=actor_id,
            correlation_id=correlation_id,
            causation_id=causation_id,
            data=event.model_dump(mode="json"),
        )

    @property
    def routing_key(self) -> str:
        return self.type

    def payload(self, model: builtins.type[E]) -> E:
        """The typed `data`; ValueError (pydantic's ValidationError is one) when it is not a
        `model`, or when a tenant's event names no tenant."""
        if self.type != model.event_type:
            raise ValueError(f"envelope carries {self.type}, not {model.event_type}")
        if issubclass(model, TenantEvent) and not self.tenant_id:
            raise ValueError(f"{self.type} is a tenant's event and names no tenant")
        return model.model_validate(self.data)
