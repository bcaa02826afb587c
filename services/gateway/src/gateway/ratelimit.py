"""Per-caller token buckets, in memory and bounded: a verified caller's own per tenant and
user, anyone else's (no token, or a refused one) per client address; and stricter buckets
per client address for some routes (public writes anyone may send)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address

from aiohttp import web

from chassis.web.auth import Admission, Caller
from chassis.web.problems import Problem

IPNetwork = IPv4Network | IPv6Network


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
        self._buckets: OrderedDict[Hashable, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, caller: Hashable) -> float:
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


def client_address(request: web.Request, trusted_proxies: Sequence[IPNetwork]) -> str:
    """The address the request came from: the socket's peer, unless that is a trusted proxy.

    Behind trusted proxies, X-Forwarded-For is read from the nearest hop outwards: each proxy
    appended the address it saw, and the first that is no trusted proxy is the client.
    Entries further left were written by the client itself and prove nothing.
    """
    hop = request.remote or "unknown"
    if not _trusted(hop, trusted_proxies):
        return hop
    forwarded = [
        entry.strip()
        for value in request.headers.getall("X-Forwarded-For", ())
        for entry in value.split(",")
    ]
    for entry in reversed(forwarded):
        try:
            address = str(ip_address(entry))
        except ValueError:
            # Not an address: the proxy that passed it on is as far as can be told.
            return hop
        hop = address
        if not _trusted(hop, trusted_proxies):
            return hop
    return hop


def _trusted(hop: str, trusted_proxies: Sequence[IPNetwork]) -> bool:
    if not trusted_proxies:
        return False
    try:
        address = ip_address(hop)
    except ValueError:
        return False
    return any(address in network for network in trusted_proxies)


class RouteLimits:
    """Limiters of their own for some routes, each a method and a path prefix (matched on
    whole path segments: "/record" covers "/record/use", not "/recordings")."""

    def __init__(self, limits: Sequence[tuple[str, str, RateLimiter]] = ()) -> None:
        self._limits = [(method.upper(), prefix.rstrip("/"), lim) for method, prefix, lim in limits]

    def __bool__(self) -> bool:
        return bool(self._limits)

    def limiter_for(self, method: str, path: str) -> RateLimiter | None:
        for wanted, prefix, limiter in self._limits:
            if method == wanted and (path == prefix or path.startswith(prefix + "/")):
                return limiter
        return None


def _refuse_if_waiting(wait: float) -> None:
    if wait > 0.0:
        raise Problem(
            429,
            "Too many requests; slow down and retry later.",
            headers={"Retry-After": retry_after(wait)},
        )


def rate_limit(
    limiter: RateLimiter | None,
    trusted_proxies: Sequence[IPNetwork] = (),
    routes: RouteLimits | None = None,
) -> Admission:
    """429 once a caller spends their bucket: a verified caller's per tenant and user, anyone
    else's (no token, or a refused one) per client address; then, on a route of `routes`, the
    client address's bucket of that route, whoever calls (a token is no way around it)."""

    def admit(request: web.Request, caller: Caller | None) -> None:
        if limiter is not None:
            key = (
                ("caller", caller.tenant_id, caller.user_id)
                if caller is not None
                else ("address", client_address(request, trusted_proxies))
            )
            _refuse_if_waiting(limiter.take(key))
        route_limiter = routes.limiter_for(request.method, request.path) if routes else None
        if route_limiter is not None:
            _refuse_if_waiting(route_limiter.take(client_address(request, trusted_proxies)))

    return admit
