"""Edge token verification, remembering tokens already verified."""

from __future__ import annotations

import time
from collections.abc import Callable

from jose import jwt

from chassis.web.auth import Caller, JwksVerifier


class CachingVerifier(JwksVerifier):
    """A JwksVerifier that skips the signature check for a token it verified recently.

    Verifying costs about as much CPU as proxying the request, and a client sends the
    same token many times. An entry lives until the token expires or `ttl` passes,
    whichever is first, so a retired signing key stops being honoured within `ttl`;
    the services verify every token again regardless.
    """

    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str,
        audience: str,
        cache_seconds: float = 300.0,
        ttl: float = 60.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            jwks_url, issuer=issuer, audience=audience, cache_seconds=cache_seconds, clock=clock
        )
        self._ttl = ttl
        self._max_entries = max_entries
        self._verified: dict[str, tuple[Caller, float]] = {}

    async def verify(self, token: str) -> Caller:
        now = self._clock()
        hit = self._verified.get(token)
        if hit is not None:
            caller, until = hit
            if now < until:
                return caller
            del self._verified[token]
        caller = await super().verify(token)
        expires = float(jwt.get_unverified_claims(token)["exp"])
        if len(self._verified) >= self._max_entries:
            # Oldest first: dicts keep insertion order.
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (caller, min(expires, now + self._ttl))
        return caller
