"""The analytics simulator (`simulators.analytics`) as tests drive it: served in the test's
process or run as its own, and asked over HTTP what it received, so that what a test counts
is the receiving end's own record, not the sender's."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp

from devstack.run import start_simulators, stop_simulators
from devstack.simulators import simulator
from devstack.system import LOCALHOST
from simulators.analytics import DEFAULT_API_KEY, Simulator
from testkit.web import serving


@dataclass(frozen=True)
class Received:
    requests: int  # capture requests accepted (a batch is one)
    events: list[dict[str, Any]]  # each copy accepted, with the `request` that brought it

    def with_property(self, name: str, value: object) -> list[dict[str, Any]]:
        return [e for e in self.events if e["properties"].get(name) == value]

    def copies(self) -> Counter[str]:
        """How many times each uuid arrived."""
        return Counter(e["uuid"] for e in self.events)


class AnalyticsSimulator:
    """A client of a running simulator."""

    def __init__(self, url: str, api_key: str = DEFAULT_API_KEY) -> None:
        self.url = url
        self.api_key = api_key

    async def received(self) -> Received:
        async with aiohttp.ClientSession() as http, http.get(self._at("events")) as response:
            response.raise_for_status()
            body = await response.json()
        return Received(body["requests"], body["events"])

    async def fail(self, status: int, times: int) -> None:
        """Answer the next `times` capture requests with `status`."""
        fault = {"status": status, "times": times}
        async with (
            aiohttp.ClientSession() as http,
            http.post(self._at("fail"), json=fault) as response,
        ):
            response.raise_for_status()

    def _at(self, what: str) -> str:
        return f"{self.url}/_simulator/{what}"


@asynccontextmanager
async def served_simulator() -> AsyncIterator[AnalyticsSimulator]:
    """A simulator served in this process, on a free port."""
    async with serving(Simulator(frozenset([DEFAULT_API_KEY])).app()) as url:
        yield AnalyticsSimulator(url)


@contextmanager
def simulator_process(port: int, log_dir: Path) -> Iterator[AnalyticsSimulator]:
    """`python -m simulators.analytics` as its own process, started as `make run` starts it
    (devstack's table of simulators), on `port`; its log in `log_dir`."""
    analytics = replace(simulator("analytics"), port=port)
    started = start_simulators(log_dir, log_dir, [analytics])
    try:
        yield AnalyticsSimulator(f"http://{LOCALHOST}:{port}")
    finally:
        stop_simulators(started)
