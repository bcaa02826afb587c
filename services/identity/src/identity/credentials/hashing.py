"""Password hashing with argon2 (passlib), in worker threads: argon2-cffi releases the GIL
while it hashes, so hashing uses every core and never stalls the event loop."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from pydantic import BaseModel, Field

with warnings.catch_warnings():
    # passlib 1.7.4 imports the `crypt` module and reads `argon2.__version__`, both
    # deprecated; loading the backend now keeps those warnings out of every request.
    warnings.simplefilter("ignore", DeprecationWarning)
    from passlib.hash import argon2

    argon2.set_backend()


class HashParameters(BaseModel):
    """argon2id's cost: OWASP's minimum of 19 MiB, 2 passes, 1 lane by default."""

    memory_kib: int = Field(default=19_456, ge=8)
    passes: int = Field(default=2, ge=1)
    lanes: int = Field(default=1, ge=1)


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password: str, password_hash: str) -> bool: ...

    async def waste(self, password: str) -> None:
        """Take as long as verifying would, for a login of an unknown address."""
        ...


class Argon2Hasher:
    def __init__(self, parameters: HashParameters, threads: int) -> None:
        self._argon2 = argon2.using(
            memory_cost=parameters.memory_kib,
            rounds=parameters.passes,
            parallelism=parameters.lanes,
        )
        self._pool = ThreadPoolExecutor(
            threads, thread_name_prefix="argon2", initializer=yield_to_the_loop
        )
        # Verified against for an unknown address, so it costs what a real one does.
        self._decoy = self._argon2.hash("decoy password never used")

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        hashed: str = await loop.run_in_executor(self._pool, self._argon2.hash, password)
        return hashed

    async def verify(self, password: str, password_hash: str) -> bool:
        loop = asyncio.get_running_loop()
        matched: bool = await loop.run_in_executor(
            self._pool, self._argon2.verify, password, password_hash
        )
        return matched

    async def waste(self, password: str) -> None:
        await self.verify(password, self._decoy)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# How much lower than the event loop's the hashing threads' scheduling priority is.
HASHING_NICENESS = 10


def yield_to_the_loop() -> None:
    """Lower this thread's priority (Linux: the nice value is per thread).

    With every core hashing, a loop that only shares a core with the hashing threads waits
    for their time slices at each wake-up: a storm of logins made `GET /users/me` 5 to 30
    times slower at p99 (bench/password_hashing.py). At a lower priority the threads still
    use every idle core, and the loop, and MongoDB answering it, run as soon as they wake.
    """
    if sys.platform.startswith("linux"):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)
