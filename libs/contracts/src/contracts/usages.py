"""Product usage: what people do with the product, published by every service for product
analytics. Who (actor) and for which tenant are the envelope's fields."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, StrictBool, StrictFloat, StrictInt

from contracts.envelope import IntegrationEvent

PropertyName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
# Strict numbers: a lax union takes a string too long for `str` as the number it spells.
PropertyValue = Annotated[str, Field(max_length=500)] | StrictInt | StrictFloat | StrictBool | None


class UsageRecorded(IntegrationEvent):
    event_type: ClassVar[str] = "platform.usage_recorded"

    # A product action, e.g. `car_registered`, `booking_made`, `list_uploaded`.
    event: str = Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*$")
    properties: dict[PropertyName, PropertyValue] = Field(default_factory=dict, max_length=50)
