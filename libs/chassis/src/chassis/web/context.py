"""Request context: the request and correlation ids of each request, and its access log line."""

from __future__ import annotations

import time

from aiohttp import web

from chassis.logging import CORRELATION_ID_HEADER, REQUEST_ID_HEADER, bound_ids, get_logger
from chassis.web.problems import Handler

log = get_logger(__name__)


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind request and correlation ids for the request and log one access line."""
    started = time.perf_counter()
    with bound_ids(
        request.headers.get(REQUEST_ID_HEADER), request.headers.get(CORRELATION_ID_HEADER)
    ):
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            log.info(
                "http.request",
                method=request.method,
                path=request.path,
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
