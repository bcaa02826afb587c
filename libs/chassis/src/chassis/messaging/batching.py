"""Messages of one queue gathered into batches, each handed to `apply` as one.

While a batch is applied, the next deliveries wait here and form the next batch. A batch that
is not full lingers a few milliseconds for more: without it a consumer that keeps up commits
one transaction per event or two, and spends most of its time committing. Two batches are
applied side by side, so one waiting for its commit does not idle the consumer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from chassis.tasks import Tasks

T = TypeVar("T")


class Batcher(Generic[T]):
    # Batches applied at once: one commits while the next forms.
    WORKERS = 2

    def __init__(
        self,
        apply: Callable[[list[T]], Awaitable[None]],
        *,
        max_size: int,
        linger_seconds: float,
        tasks: Tasks,
    ) -> None:
        self._apply = apply
        self._max = max(1, max_size)
        self._linger = linger_seconds
        self._tasks = tasks
        self._waiting: list[T] = []
        self._workers = 0

    def add(self, item: T) -> None:
        self._waiting.append(item)
        if self._workers < self.WORKERS:
            self._workers += 1
            self._tasks.spawn(self._drain())

    async def _drain(self) -> None:
        try:
            while self._waiting:
                if len(self._waiting) < self._max and self._linger:
                    await asyncio.sleep(self._linger)
                batch = self._waiting[: self._max]
                del self._waiting[: self._max]
                if batch:  # the other worker may have taken them while this one lingered
                    await self._apply(batch)
        finally:
            self._workers -= 1
