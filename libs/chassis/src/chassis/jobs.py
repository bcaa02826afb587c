"""Periodic jobs of a service (sweeps, clean-ups): a part started and stopped with it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from chassis.logging import get_logger
from chassis.parts import Check
from chassis.tasks import Tasks

log = get_logger(__name__)
Job = Callable[[], Awaitable[object]]


class Jobs:
    def __init__(self) -> None:
        self._jobs: list[tuple[str, float, Job]] = []
        self._tasks = Tasks()

    def every(self, seconds: float, name: str, job: Job) -> None:
        """Run `job` every `seconds` while the service runs; a failing run is only logged."""
        self._jobs.append((name, seconds, job))

    @staticmethod
    async def _repeat(name: str, seconds: float, job: Job) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                log.exception("job.failed", job=name)

    async def start(self) -> None:
        for name, seconds, job in self._jobs:
            self._tasks.spawn(self._repeat(name, seconds, job), name=name)

    async def stop(self) -> None:
        await self._tasks.cancel()

    def checks(self) -> Mapping[str, Check]:
        return {}
