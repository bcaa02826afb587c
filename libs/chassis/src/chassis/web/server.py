"""Serving an app so that the errors aiohttp answers by itself are problems too.

aiohttp refuses some requests before any middleware runs: a request line or header field
over `max_line_size`/`max_field_size`, more than `max_headers` fields, bytes that are not
HTTP. Its RequestHandler answers those from `handle_error` as text/plain, and offers no
hook for it; the one way in is a RequestHandler of our own, which the server must build
for each connection, so the runner hands it a server that does. That leans on aiohttp 3's
`AppRunner._make_server` and `Server`'s `_loop` and `_kwargs`: tests/test_server.py fails
if they change.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import uvloop
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from chassis.logging import get_logger
from chassis.web.problems import Problem

log = get_logger(__name__)

# aiohttp's own words when a request has more than `max_headers` fields (both its parsers).
_TOO_MANY_HEADERS = "Too many headers received"


def _protocol_problem(status: int, exc: BaseException | None) -> Problem:
    """What to answer for an error aiohttp met outside the app's middlewares."""
    if isinstance(exc, LineTooLong) or (
        isinstance(exc, BadHttpMessage) and exc.message == _TOO_MANY_HEADERS
    ):
        return Problem(
            431, "The request line, a header field or the number of fields is over the limit."
        )
    if isinstance(exc, BadHttpMessage):
        # Its message quotes the offending bytes: not echoed back.
        return Problem(400, "The request is not valid HTTP.")
    if status >= 500:
        return Problem(status, "An unexpected error occurred.")
    return Problem(status)


class ProblemRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, answering the errors it meets itself as problems."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            # Part of another answer went out already: all that is left is to drop the
            # connection, which this error tells aiohttp to do (as its own handler does).
            raise ConnectionError("an answer was under way; the error cannot be sent")
        problem = _protocol_problem(status, exc)
        if problem.status >= 500:
            log.error("http.server_error", status=problem.status, exc_info=exc)
        else:
            # Clients sending what aiohttp refuses are no fault of ours: one line, no trace.
            error = type(exc).__name__ if exc is not None else None
            log.info("http.refused_request", status=problem.status, error=error)
        response = problem.response()
        # What follows on this connection cannot be trusted to start a new request.
        response.force_close()
        return response


class _ProblemServer(web.Server):
    def __call__(self) -> web.RequestHandler:
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """An AppRunner whose connections answer aiohttp's own errors as problems."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The app built the server (its handler, request factory and handler_args); the
        # same, making a ProblemRequestHandler per connection.
        return _ProblemServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )


@contextlib.asynccontextmanager
async def serving(
    app: web.Application, host: str, port: int, **runner_args: Any
) -> AsyncIterator[Runner]:
    """`app` started (its startup hooks run) and listening on host:port; cleaned up after."""
    runner = Runner(app, access_log=None, **runner_args)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield runner
    finally:
        await runner.cleanup()


def serve_forever(
    app: web.Application | Awaitable[web.Application], host: str, port: int, *, on_uvloop: bool
) -> None:
    """Serve `app` until SIGINT or SIGTERM, then stop it cleanly; on uvloop's event loop when
    `on_uvloop`, else asyncio's."""

    async def serve() -> None:
        served = app if isinstance(app, web.Application) else await app
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        # As web.run_app: idle keep-alive connections are closed after 75 s.
        async with serving(served, host, port, keepalive_timeout=75.0):
            await stop.wait()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop if on_uvloop else None) as runner:
        runner.run(serve())
