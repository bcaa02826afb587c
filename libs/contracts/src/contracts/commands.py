"""Commands: requests one service answers for another, over request/reply."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class Command(BaseModel):
    """A request exactly one service answers, with one `reply`.

    It travels on its own `queue` (default exchange, routing key = queue name) with a
    reply-to queue; it is not a domain event and is never stored in an outbox.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: ClassVar[str]
    reply: ClassVar[type[BaseModel]]
