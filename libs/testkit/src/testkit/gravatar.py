"""The Gravatar simulator (`simulators.gravatar`) as tests drive it: served in the test's
process, told to fail or be slow, and addresses on either side of its rule (hashes starting
0 to 3 have no avatar)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from simulators.gravatar import Simulator, has_avatar
from testkit.identity import new_email
from testkit.web import serving


def _hash(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _email_where(wanted: Callable[[str], bool], name: str) -> str:
    # Each try has a one in four (or three in four) chance: a few tries at most.
    while True:
        email = new_email(name)
        if wanted(_hash(email)):
            return email


def email_with_avatar() -> str:
    """A fresh address the simulator has an avatar for."""
    return _email_where(has_avatar, "pictured")


def email_without_avatar() -> str:
    """A fresh address the simulator has no avatar for."""
    return _email_where(lambda h: not has_avatar(h), "faceless")


class GravatarSimulator:
    """A client of a running simulator."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def requests(self) -> list[dict[str, Any]]:
        """The avatar requests it served ({hash, size, default}), oldest first."""
        async with aiohttp.ClientSession() as http, http.get(self._at("requests")) as response:
            response.raise_for_status()
            requests: list[dict[str, Any]] = (await response.json())["requests"]
            return requests

    async def requests_for(self, email: str) -> list[dict[str, Any]]:
        return [r for r in await self.requests() if r["hash"] == _hash(email)]

    async def fail(self, status: int, times: int = 1) -> None:
        """Answer the next `times` avatar requests with `status`."""
        await self._tell("fail", {"status": status, "times": times})

    async def slow(self, seconds: float, times: int = 1) -> None:
        """Keep the next `times` avatar requests waiting `seconds` each."""
        await self._tell("slow", {"seconds": seconds, "times": times})

    async def _tell(self, what: str, body: dict[str, Any]) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.post(self._at(what), json=body) as response,
        ):
            response.raise_for_status()

    def _at(self, what: str) -> str:
        return f"{self.url}/_simulator/{what}"


@asynccontextmanager
async def served_simulator() -> AsyncIterator[GravatarSimulator]:
    """A simulator served in this process on a free port."""
    async with serving(Simulator().app()) as url:
        yield GravatarSimulator(url)
