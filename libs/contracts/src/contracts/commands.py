"""Commands: requests one service answers for another, over request/reply."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

R = TypeVar("R", bound=BaseModel)


class Command(BaseModel, Generic[R]):
    """A request exactly one service answers, with one reply of type `R`.

    Subclass as `class ReserveCar(Command[ReservationReply])` and name its `queue`: it
    travels there (default exchange, routing key = queue name) with a reply-to queue; it is
    not an event and is never stored in an outbox.

    `deadline` is when the sender stops waiting for the reply (the chassis' `CommandBus`
    sets it from its timeout). A command handled at or after it is refused: its sender may
    be undoing what it asked for already, and would not undo what is done after that.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: ClassVar[str]
    reply: ClassVar[type[BaseModel]]

    deadline: AwareDatetime | None = Field(
        default=None,
        description="When the sender stops waiting; the command is refused from then on.",
    )

    def expired(self, now: datetime) -> bool:
        return self.deadline is not None and now >= self.deadline

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # `Command[X]` is itself a (parametrised) subclass; its args name the reply type.
        args = cls.__pydantic_generic_metadata__["args"]
        if args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            cls.reply = args[0]
