"""What a part of the chassis (storage, messaging, jobs) offers the process that runs it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

# A health check: returns when the dependency answers, raises when it does not.
Check = Callable[[], Awaitable[None]]


class Part(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def checks(self) -> Mapping[str, Check]:
        """The dependencies `/health` reports on, by name."""
        ...
