"""Password hashing runs in worker threads below the event loop's scheduling priority."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from identity.credentials.hashing import HASHING_NICENESS, Argon2Hasher, HashParameters


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
async def test_hashing_threads_yield_to_the_loop() -> None:
    hasher = Argon2Hasher(HashParameters(memory_kib=8, passes=1), threads=1)
    try:
        hashed = await hasher.hash("Correct-horse-9")
        assert await hasher.verify("Correct-horse-9", hashed)
        # Every hasher's threads (the served app's too, when tests share the process).
        workers = [t.native_id for t in threading.enumerate() if t.name.startswith("argon2")]
        assert workers
        loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        expected = min(19, loop_nice + HASHING_NICENESS)
        assert [os.getpriority(os.PRIO_PROCESS, w or 0) for w in workers] == [expected] * len(
            workers
        )
    finally:
        hasher.close()
