"""Token verification that remembers the tokens it verified, at the gateway and in every
service."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Self

from jose import jwt

from chassis.config import WebSettings
from chassis.web.auth import Caller, JwksVerifier, KeySet, TokenVerifier


class CachingVerifier:
    """Skips verifying a token that `verifier` verified recently.

    Verifying costs about as much CPU as proxying the request or reading a document, and a
    client sends the same token many times. An entry lives until the token expires or `ttl`
    passes, whichever is first, so a retired signing key stops being honoured within `ttl`.
    Each process remembers only what it verified itself: a service trusts no token for
    having been verified by the gateway.
    """

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        ttl: float = 60.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verifier = verifier
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._verified: dict[str, tuple[Caller, float]] = {}

    @classmethod
    def of(cls, settings: WebSettings, own_keys: KeySet | None = None) -> Self:
        return cls(
            JwksVerifier.of(settings, own_keys),
            ttl=settings.verified_token_ttl,
            max_entries=settings.verified_token_cache_size,
        )

    async def verify(self, token: str) -> Caller:
        now = self._clock()
        hit = self._verified.get(token)
        if hit is not None:
            caller, until = hit
            if now < until:
                return caller
            del self._verified[token]
        caller = await self._verifier.verify(token)
        expires = float(jwt.get_unverified_claims(token)["exp"])
        if len(self._verified) >= self._max_entries:
            # Oldest first: dicts keep insertion order.
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (caller, min(expires, now + self._ttl))
        return caller
