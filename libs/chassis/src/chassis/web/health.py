"""`GET /health`: 200 when every dependency answers, 503 naming the ones that do not."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from chassis.parts import Check
from chassis.web.openapi import Route
from chassis.web.parsing import json_response

CHECK_TIMEOUT = 2.0


async def run_checks(checks: Mapping[str, Check]) -> tuple[bool, dict[str, str]]:
    async def one(check: Check) -> str:
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT)
        except Exception as exc:
            return f"down: {exc!r}"[:300]
        return "ok"

    results = await asyncio.gather(*(one(c) for c in checks.values()))
    report = dict(zip(checks, results, strict=True))
    return all(r == "ok" for r in results), report


class HealthReport(BaseModel):
    service: str
    status: Literal["ok", "down"]
    checks: dict[str, str]


def health_route(service_name: str, checks: Mapping[str, Check]) -> Route:
    async def health(_: web.Request) -> web.Response:
        healthy, report = await run_checks(checks)
        body = HealthReport(service=service_name, status="ok" if healthy else "down", checks=report)
        return json_response(body, 200 if healthy else 503)

    return Route(
        "GET",
        "/health",
        health,
        "Whether every dependency answers: 200, or 503 with the same report naming the ones down",
        response=HealthReport,
        other_statuses=(503,),
        public=True,
    )
