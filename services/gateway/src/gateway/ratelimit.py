"""Per-caller token buckets, in memory and bounded."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from chassis.web.auth import CALLER_KEY, Caller
from chassis.web.problems import Handler, Problem


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`rate` requests a second per caller, with bursts of up to `burst`.

    Buckets are kept least recently used first. A bucket idle long enough to have
    refilled is the same as no bucket, so it is dropped; past `max_callers` the least
    recently used go too, which at worst hands an idle caller a fresh burst.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        max_callers: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1 or max_callers < 1:
            raise ValueError("rate must be positive, burst and max_callers at least 1")
        self._rate = rate
        self._burst = float(burst)
        self._refill_seconds = burst / rate
        self._max_callers = max_callers
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, caller: str) -> float:
        """Spend one token: 0.0 when allowed, else the seconds until one is available."""
        now = self._clock()
        bucket = self._buckets.get(caller)
        if bucket is None:
            bucket = self._buckets[caller] = _Bucket(self._burst, now)
        else:
            elapsed = now - bucket.updated
            bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
            bucket.updated = now
            self._buckets.move_to_end(caller)
        self._evict(now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def _evict(self, now: float) -> None:
        buckets = self._buckets
        while buckets:
            oldest = next(iter(buckets.values()))
            if len(buckets) <= self._max_callers and now - oldest.updated < self._refill_seconds:
                return
            buckets.popitem(last=False)


def retry_after(wait_seconds: float) -> str:
    return str(max(1, math.ceil(wait_seconds)))


def rate_limit_middleware(limiter: RateLimiter) -> Middleware:
    """429 once a caller (verified user, else client IP) spends their bucket."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        caller: Caller | None = request.get(CALLER_KEY)
        key = f"user:{caller.user_id}" if caller else f"ip:{request.remote}"
        wait = limiter.take(key)
        if wait > 0.0:
            raise Problem(
                429,
                "Too many requests; slow down and retry later.",
                headers={"Retry-After": retry_after(wait)},
            )
        return await handler(request)

    return middleware
