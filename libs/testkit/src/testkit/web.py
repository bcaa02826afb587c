"""Serve an aiohttp app on a free local port for the length of a test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from chassis.web.server import serving as chassis_serving


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Start `app` (running its startup and cleanup hooks) as `run` serves it, and yield its
    base URL."""
    async with chassis_serving(app, "127.0.0.1", 0) as runner:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
