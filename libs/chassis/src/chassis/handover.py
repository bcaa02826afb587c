"""Work that a commit leaves to workers in the same process, handed to them from memory.

A use case that stores work to be done after its commit (an email to send) asks `accepts()`
first. While the workers run and are not too far behind, it stores the work claimed by this
process for a while, and puts it here once the transaction commits (`Recording.after_commit`);
a worker takes it at once, with no read of the database and no broker hop. Otherwise (the
workers stopped, or behind) it stores the work for the slower way (its queue, its sweep).

Nothing is lost when the process dies with work in hand: the claim runs out and the owner's
sweep takes the work again. So the work is done at least once, and the worker makes a repeat
harmless by the state it keeps (as the outbox relay's handoff does, chassis.storage.outbox).
The work runs in the log context of the commit that put it (its request and correlation ids),
so what it logs, and the events it raises, carry them on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

import structlog

from chassis.logging import get_logger
from chassis.parts import Check

log = get_logger(__name__)
T = TypeVar("T")


class Handover(Generic[T]):
    def __init__(
        self,
        work: Callable[[T], Awaitable[None]],
        *,
        workers: int,
        limit: int,
        name: str,
        drain_seconds: float = 10.0,
    ) -> None:
        """`workers` run `work` side by side, one item each; at most `limit` items are in
        hand (waiting or worked on) before `accepts()` says no. `work` handles its own
        failures: what it raises is only logged."""
        self._work = work
        self._workers = workers
        self._limit = limit
        self._name = name
        self._drain = drain_seconds
        self._waiting: asyncio.Queue[tuple[T, dict[str, Any]]] = asyncio.Queue()
        self._busy = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._accepting = False

    @property
    def in_hand(self) -> int:
        return self._waiting.qsize() + self._busy

    def accepts(self) -> bool:
        """Whether work stored now may count on being put here: the workers run and hold
        fewer than `limit` items."""
        return self._accepting and self.in_hand < self._limit

    def put(self, item: T) -> None:
        """Work committed after `accepts()` said yes (the limit is not checked again: the
        commits between the two are few). Never raises, since it runs after a commit."""
        if not self._tasks:
            # Stopped since: the claim runs out and the sweep takes the work.
            log.warning("handover.refused_stopped", handover=self._name)
            return
        self._waiting.put_nowait((item, structlog.contextvars.get_contextvars()))

    async def start(self) -> None:
        self._accepting = True
        self._tasks = [
            asyncio.create_task(self._run(), name=f"{self._name}-{n}") for n in range(self._workers)
        ]

    async def stop(self) -> None:
        """Accept no more; finish what is in hand, for up to `drain_seconds`; what is left is
        the sweep's once its claim runs out."""
        self._accepting = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._drain):
                await self._waiting.join()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._waiting.qsize():
            log.warning("handover.left", handover=self._name, items=self._waiting.qsize())

    async def _run(self) -> None:
        while True:
            item, context = await self._waiting.get()
            self._busy += 1
            try:
                with structlog.contextvars.bound_contextvars(**context):
                    await self._work(item)
            except Exception:
                log.exception("handover.work_failed", handover=self._name)
            finally:
                self._busy -= 1
                self._waiting.task_done()

    def checks(self) -> Mapping[str, Check]:
        return {}
