"""Commands: requests one service answers for another, over request/reply."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

R = TypeVar("R", bound=BaseModel)


class Command(BaseModel, Generic[R]):
    """A request exactly one service answers, with one reply of type `R`.

    Subclass as `class ReserveCar(Command[ReservationReply])` and name its `queue`: it
    travels there (default exchange, routing key = queue name) with a reply-to queue; it is
    not an event and is never stored in an outbox.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: ClassVar[str]
    reply: ClassVar[type[BaseModel]]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # `Command[X]` is itself a (parametrised) subclass; its args name the reply type.
        args = cls.__pydantic_generic_metadata__["args"]
        if args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            cls.reply = args[0]
