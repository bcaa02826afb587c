"""`GET /health` of the gateway: every upstream's own `/health`, asked concurrently."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from chassis.parts import Check
from chassis.web.health import health_route
from chassis.web.openapi import Route


class UpstreamUnhealthy(Exception):
    pass


def _upstream_check(session: aiohttp.ClientSession, url: str, timeout: float) -> Check:
    client_timeout = aiohttp.ClientTimeout(total=timeout)

    async def check() -> None:
        # The report is public: say what went wrong without naming internal addresses.
        try:
            async with session.get(url, timeout=client_timeout, allow_redirects=False) as r:
                status = r.status
        except TimeoutError as exc:
            raise UpstreamUnhealthy(f"no answer within {timeout} s") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnhealthy("unreachable") from exc
        if status != 200:
            raise UpstreamUnhealthy(f"answered {status}")

    return check


def upstreams_health_route(
    service_name: str,
    session: aiohttp.ClientSession,
    upstreams: Mapping[str, str],
    timeout: float,
) -> Route:
    checks = {
        name: _upstream_check(session, f"{base}/health", timeout)
        for name, base in upstreams.items()
    }
    return health_route(service_name, checks)
