"""The event envelope every service publishes and consumes (see DESIGN.md, "Events")."""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Self, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class DomainEvent(BaseModel):
    """The `data` of an envelope. Subclasses name their routing key and schema version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    version: ClassVar[int] = 1


E = TypeVar("E", bound=DomainEvent)


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
        event: DomainEvent,
        *,
        tenant_id: str | None,
        actor_id: str | None,
        correlation_id: str,
        causation_id: str | None = None,
    ) -> Self:
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
        """The typed `data`; raises pydantic.ValidationError when it does not match."""
        if self.type != model.event_type:
            raise ValueError(f"envelope carries {self.type}, not {model.event_type}")
        return model.model_validate(self.data)
