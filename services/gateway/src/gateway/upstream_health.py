"""`GET /health` of the gateway: every upstream's own `/health`, asked concurrently; and
`GET /health/{service}`: one of them.

Each upstream's report is shown as it gave it (its MongoDB and broker checks), so a person
sees which dependency of which service is down; an upstream that does not answer, or answers
anything but 200, is named in `down` and makes the whole answer 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Literal

import aiohttp
from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from chassis.web.openapi import Route
from chassis.web.parsing import json_response
from chassis.web.problems import Problem

# An upstream's report is a few checks; anything longer is not one.
MAX_REPORT_BYTES = 64 * 1024

Status = Literal["ok", "down"]


class UpstreamReport(BaseModel):
    status: Status
    # The upstream's own checks (`mongo`, `broker`, ...): "ok" or "down".
    checks: dict[str, str] = Field(default_factory=dict)
    # Why it counts as down, when it does: no answer, or the status it answered.
    error: str | None = None


class AggregateHealth(BaseModel):
    service: str
    status: Status
    # The upstreams that are down, by name.
    down: list[str]
    # One line per upstream: "ok", or "down: <why>".
    checks: dict[str, str]
    upstreams: dict[str, UpstreamReport]


class _Reported(BaseModel):
    """What the gateway reads of an upstream's `/health` body (the chassis' HealthReport)."""

    checks: dict[str, str] = Field(default_factory=dict, max_length=50)


async def _ask(session: aiohttp.ClientSession, url: str, timeout: float) -> UpstreamReport:
    # The report is public: say what went wrong without naming internal addresses.
    try:
        async with session.get(
            url, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False
        ) as response:
            status = response.status
            body = await response.content.read(MAX_REPORT_BYTES + 1)
    except TimeoutError:
        return UpstreamReport(status="down", error=f"no answer within {timeout} s")
    except aiohttp.ClientError:
        return UpstreamReport(status="down", error="unreachable")
    checks = _checks_of(body)
    if status != 200:
        return UpstreamReport(status="down", checks=checks, error=f"answered {status}")
    return UpstreamReport(status="ok", checks=checks)


def _checks_of(body: bytes) -> dict[str, str]:
    """Each check's state, "ok" or "down": a service's reason names hosts and ports, which
    its own log keeps and the public report does not."""
    if len(body) > MAX_REPORT_BYTES:
        return {}
    try:
        reported = _Reported.model_validate_json(body).checks
    except ValidationError:
        return {}
    return {name[:100]: "ok" if state == "ok" else "down" for name, state in reported.items()}


def upstreams_health_routes(
    service_name: str,
    session: aiohttp.ClientSession,
    upstreams: Mapping[str, str],
    timeout: float,
) -> list[Route]:
    names = list(upstreams)
    urls = [f"{upstreams[name]}/health" for name in names]

    async def health(_: web.Request) -> web.Response:
        reports = await asyncio.gather(*(_ask(session, url, timeout) for url in urls))
        by_name = dict(zip(names, reports, strict=True))
        down = sorted(name for name, report in by_name.items() if report.status == "down")
        body = AggregateHealth(
            service=service_name,
            status="down" if down else "ok",
            down=down,
            checks={
                name: "ok" if r.status == "ok" else f"down: {r.error}"
                for name, r in by_name.items()
            },
            upstreams=by_name,
        )
        return json_response(body, 503 if down else 200)

    async def one(request: web.Request) -> web.Response:
        name = request.match_info["service"]
        if name not in upstreams:
            raise Problem(404, f"There is no service {name!r}.")
        report = await _ask(session, f"{upstreams[name]}/health", timeout)
        return json_response(report, 200 if report.status == "ok" else 503)

    return [
        Route(
            "GET",
            "/health",
            health,
            "Every service's own health (its MongoDB and broker): 200, or 503 naming those down",
            response=AggregateHealth,
            other_statuses=(503,),
            public=True,
        ),
        Route(
            "GET",
            "/health/{service:[a-z][a-z0-9_-]{0,49}}",
            one,
            "One service's own health, as the gateway reaches it: 200, or 503 when it is down",
            response=UpstreamReport,
            other_statuses=(503,),
            errors=(404,),
            public=True,
        ),
    ]
