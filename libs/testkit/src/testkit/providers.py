"""The data providers' simulator (`simulators.providers`) as tests drive it: served in the
test's process, its knobs turned, failures told, its calls counted, and addresses on either
side of each provider's rule (which people it knows)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from simulators.providers import DEFAULT_API_KEY, Knobs, Provider, Simulator, knows
from testkit.identity import new_email
from testkit.web import serving


def email_known_to(*providers: Provider, unknown_to: tuple[Provider, ...] = ()) -> str:
    """A fresh address every one of `providers` knows and none of `unknown_to` does."""
    # The shares are 50 % to 80 % each: a few tries find any combination.
    while True:
        email = new_email("known")
        if all(knows(p, email) for p in providers) and not any(knows(p, email) for p in unknown_to):
            return email


def email_unknown_to(*providers: Provider) -> str:
    """A fresh address none of `providers` knows."""
    return email_known_to(unknown_to=providers)


class ProvidersSimulator:
    """A client of a running simulator; `url(provider)` is an adapter's base URL."""

    def __init__(self, url: str, api_key: str = DEFAULT_API_KEY) -> None:
        self.base = url
        self.api_key = api_key

    def url(self, provider: Provider) -> str:
        return f"{self.base}/{provider}"

    async def configure(
        self,
        provider: Provider | None = None,
        *,
        latency_ms: int | None = None,
        error_rate: float | None = None,
        throttle_rate: float | None = None,
    ) -> dict[str, Knobs]:
        """Change the knobs of `provider` (of all without it); the knobs of all, as set."""
        told = {"latency_ms": latency_ms, "error_rate": error_rate, "throttle_rate": throttle_rate}
        body: dict[str, Any] = {k: v for k, v in told.items() if v is not None}
        if provider:
            body["provider"] = provider
        answer = await self._send("POST", "config", body)
        return {p: Knobs.model_validate(k) for p, k in answer.items()}

    async def fail(self, provider: Provider, status: int, times: int = 1) -> None:
        """Answer `provider`'s next `times` calls with `status`."""
        await self._send("POST", "fail", {"provider": provider, "status": status, "times": times})

    async def calls(self, provider: Provider) -> int:
        """The calls `provider` received."""
        counted: int = (await self._send("GET", "calls"))["providers"][provider]["calls"]
        return counted

    async def calls_for(self, provider: Provider, key: str) -> int:
        """The calls `provider` received for a lookup key (a lower-cased email, say)."""
        keys: dict[str, int] = (await self._send("GET", "calls"))["providers"][provider]["keys"]
        return keys.get(key, 0)

    async def callbacks(self) -> list[dict[str, Any]]:
        """The SignalHire callbacks delivered ({request_id, url, status}), oldest first."""
        delivered: list[dict[str, Any]] = (await self._send("GET", "callbacks"))["callbacks"]
        return delivered

    async def forget(self) -> None:
        """Forget the calls, callbacks and told failures (the knobs stay)."""
        await self._send("DELETE", "calls")

    async def _send(self, method: str, what: str, body: dict[str, Any] | None = None) -> Any:
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, f"{self.base}/_simulator/{what}", json=body) as response,
        ):
            response.raise_for_status()
            return await response.json() if response.status != 204 else None


@asynccontextmanager
async def served_simulator(
    *, seed: int = 0, api_key: str = DEFAULT_API_KEY
) -> AsyncIterator[ProvidersSimulator]:
    """A simulator served in this process on a free port."""
    async with serving(Simulator(api_key=api_key, seed=seed).app()) as url:
        yield ProvidersSimulator(url, api_key)
