"""API keys at the edge: a key is traded with identity for a short-lived access token, which is
forwarded in its place, so that services see one kind of caller (a bearer JWT) and never a key.

Exchanges are remembered per key digest for a few seconds (a deleted key is refused within
that time) and never past the token's expiry; refusals too, so that a repeated bad key does
not reach identity each time. Concurrent requests with the same unknown key share one exchange.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self, TypeVar

import aiohttp
from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from chassis.logging import CORRELATION_ID_HEADER, REQUEST_ID_HEADER, current_ids, get_logger
from chassis.web.auth import Admission
from chassis.web.problems import Handler, Problem

log = get_logger(__name__)

API_KEY_HEADER = "X-API-Key"
KEY_PREFIX = "apk_"
EXCHANGE_PATH = "/tokens/exchange"
# The prefix and a URL-safe secret; anything else is refused without asking identity. The
# bound keeps an absurd header from being hashed and sent on.
_KEY_SHAPE = re.compile(r"apk_[A-Za-z0-9_-]{1,256}")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as the request carried it; its repr shows neither the secret nor its digest, so
    that no log line or traceback can."""

    secret: str = field(repr=False)
    digest: bytes = field(repr=False)

    @classmethod
    def of(cls, secret: str) -> Self:
        return cls(secret, hashlib.sha256(secret.encode()).digest())


class ExchangeRequest(BaseModel):
    api_key: str


class ExchangedToken(BaseModel):
    model_config = ConfigDict(frozen=True)

    access_token: str = Field(min_length=1)
    expires_utc: AwareDatetime


class KeyRefused(Exception):
    pass


def _bearer_key(authorization: str) -> str | None:
    scheme, _, credential = authorization.partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer" and credential.startswith(KEY_PREFIX):
        return credential
    return None


def presented_key(request: web.Request) -> ApiKey | None:
    """The API key the request carries, in `X-API-Key` or as a bearer `apk_...`, if any.

    A key with another credential beside it (a second key, or any Authorization header) is
    400, not 401: neither credential need be wrong, the request is ambiguous, and the client
    has to fix how it calls rather than its key; guessing which one was meant could run the
    request as a caller the client did not intend.
    """
    headers = request.headers
    keys = headers.getall(API_KEY_HEADER, [])
    authorizations = headers.getall(hdrs.AUTHORIZATION, [])
    in_bearer = [key for value in authorizations if (key := _bearer_key(value)) is not None]
    if not keys and not in_bearer:
        return None
    if len(keys) + len(authorizations) > 1:
        raise Problem(
            400,
            "Send one credential: an API key in X-API-Key or as a bearer token, or an access "
            "token, not more than one.",
            title="More than one credential",
        )
    return ApiKey.of((keys or in_bearer)[0].strip())


def _refused() -> Problem:
    return Problem(
        401,
        "The API key is not valid: unknown, deleted or expired.",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


@dataclass(frozen=True, slots=True)
class _Accepted:
    token: str
    until: float


_Entry = TypeVar("_Entry")


class KeyExchange:
    """Trades keys for access tokens with identity, remembering each answer for a while.

    Accepted and refused keys are kept apart, each bounded, oldest out first, so that a flood
    of made-up keys evicts only other refusals, never the tokens of keys in use.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        identity_url: str | None,
        *,
        cache_seconds: float,
        timeout: float,
        max_entries: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`identity_url` is identity's base URL (None: no identity, every key is 503);
        `clock` is seconds since the epoch, as tokens' expiries are."""
        self._session = session
        self._url = None if identity_url is None else identity_url + EXCHANGE_PATH
        self._cache_seconds = cache_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_entries = max_entries
        self._clock = clock
        self._accepted: OrderedDict[bytes, _Accepted] = OrderedDict()
        self._refused: OrderedDict[bytes, float] = OrderedDict()
        self._pending: dict[bytes, asyncio.Task[str]] = {}

    def remembered(self, key: ApiKey) -> str | None:
        """The access token `key` was traded for lately, if it is still good."""
        hit = self._accepted.get(key.digest)
        if hit is None:
            return None
        if self._clock() < hit.until:
            return hit.token
        del self._accepted[key.digest]
        return None

    async def access_token(self, key: ApiKey) -> str:
        """The access token for `key`: remembered, or asked of identity once however many
        requests want it meanwhile. KeyRefused when identity refuses the key; a 503 Problem
        when identity cannot answer (never remembered: the next request asks again)."""
        token = self.remembered(key)
        if token is not None:
            return token
        refused_until = self._refused.get(key.digest)
        if refused_until is not None:
            if self._clock() < refused_until:
                raise KeyRefused
            del self._refused[key.digest]
        pending = self._pending.get(key.digest)
        if pending is None:
            pending = self._pending[key.digest] = asyncio.create_task(self._exchange(key))
        # Shielded: a client that goes away must not cancel the exchange others wait on.
        return await asyncio.shield(pending)

    async def _exchange(self, key: ApiKey) -> str:
        try:
            exchanged = await self._ask_identity(key)
            now = self._clock()
            if exchanged is None:
                self._remember(self._refused, key.digest, now + self._cache_seconds)
                raise KeyRefused
            until = min(now + self._cache_seconds, exchanged.expires_utc.timestamp())
            self._remember(self._accepted, key.digest, _Accepted(exchanged.access_token, until))
            return exchanged.access_token
        finally:
            del self._pending[key.digest]

    def _remember(self, entries: OrderedDict[bytes, _Entry], digest: bytes, entry: _Entry) -> None:
        entries.pop(digest, None)
        while len(entries) >= self._max_entries:
            entries.popitem(last=False)
        entries[digest] = entry

    async def _ask_identity(self, key: ApiKey) -> ExchangedToken | None:
        """Identity's token for `key`; None when identity refuses it."""
        if self._url is None:
            raise Problem(503, "API keys cannot be used here: the gateway has no identity service.")
        request_id, correlation_id = current_ids()
        headers: dict[str, str] = {hdrs.CONTENT_TYPE: "application/json"}
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        if correlation_id:
            headers[CORRELATION_ID_HEADER] = correlation_id
        try:
            async with self._session.post(
                self._url,
                data=ExchangeRequest(api_key=key.secret).model_dump_json(),
                headers=headers,
                timeout=self._timeout,
            ) as response:
                if response.status == 401:
                    return None
                if response.status != 200:
                    log.warning("api_keys.exchange_failed", status=response.status)
                    raise _unavailable()
                return ExchangedToken.model_validate_json(await response.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("api_keys.identity_unreachable", error=repr(exc))
            raise _unavailable() from exc
        except ValidationError as exc:
            # The errors name fields and types only: the body holds no key.
            log.warning("api_keys.exchange_unreadable", error=str(exc))
            raise _unavailable() from exc


def _unavailable() -> Problem:
    return Problem(503, "The API key could not be checked just now; retry shortly.")


def _forwarded(request: web.Request, token: str) -> CIMultiDict[str]:
    headers = CIMultiDict(
        (name, value)
        for name, value in request.headers.items()
        if name.lower() not in ("x-api-key", "authorization")
    )
    headers[hdrs.AUTHORIZATION] = f"Bearer {token}"
    return headers


def api_key_middleware(keys: KeyExchange, admit: Admission | None = None) -> Middleware:
    """Trade a request's API key for an access token and go on as if the client had sent that
    token (and no key): it is verified, rate limited and forwarded like any other.

    A key not remembered as good is first admitted as an anonymous caller from its address,
    as a refused token is: guessing keys, or flooding identity with new ones, is held to the
    address's rate limit before identity is asked. (A good key thus costs its address one
    request each time its exchange is renewed, every few seconds at most.)
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = presented_key(request)
        if key is None:
            return await handler(request)
        token = keys.remembered(key)
        if token is None:
            if admit is not None:
                admit(request, None)
            if _KEY_SHAPE.fullmatch(key.secret) is None:
                raise _refused()
            try:
                token = await keys.access_token(key)
            except KeyRefused:
                raise _refused() from None
        return await handler(request.clone(headers=_forwarded(request, token)))

    return middleware
