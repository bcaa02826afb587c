"""An aiohttp application from defaults that compose: each function adds one thing.

A service takes them all at once with `service_app`; the gateway and the web front end
compose the pieces they need (their own verifier, middlewares, health and documents).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from typing import Any

import uvloop
from aiohttp import web
from aiohttp.typedefs import Middleware

from chassis.config import WebSettings
from chassis.logging import get_logger
from chassis.parts import Check, Part
from chassis.web.auth import JwksVerifier, TokenVerifier, auth_middleware
from chassis.web.context import context_middleware
from chassis.web.health import health_route
from chassis.web.openapi import OPENAPI_KEY, OPENAPI_ROUTE, Route, openapi_document
from chassis.web.problems import problem_middleware

log = get_logger(__name__)


def base_app(
    verifier: TokenVerifier, middlewares: Sequence[Middleware] = (), **app_args: Any
) -> web.Application:
    """Request ids and access log, problems, bearer tokens verified, then `middlewares`."""
    return web.Application(
        middlewares=[
            context_middleware,
            problem_middleware,
            auth_middleware(verifier),
            *middlewares,
        ],
        **app_args,
    )


def serve_routes(app: web.Application, title: str, routes: Sequence[Route]) -> None:
    """Register `routes` and `GET /openapi.json`, the document of all of them."""
    served = [*routes, OPENAPI_ROUTE]
    app.add_routes([route.definition() for route in served])
    app[OPENAPI_KEY] = openapi_document(title, served)


def run_parts(app: web.Application, parts: Sequence[Part]) -> None:
    """Start `parts` in order when the app starts, stop them in reverse when it stops; if one
    fails to start, those started are stopped."""

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as running:
            for part in parts:
                await part.start()
                running.push_async_callback(part.stop)
            log.info("service.started")
            yield
        log.info("service.stopped")

    app.cleanup_ctx.append(lifecycle)


def checks_of(parts: Sequence[Part]) -> Mapping[str, Check]:
    return {name: check for part in parts for name, check in part.checks().items()}


def service_app(
    settings: WebSettings,
    routes: Sequence[Route],
    parts: Sequence[Part] = (),
    *,
    verifier: TokenVerifier | None = None,
) -> web.Application:
    """A service: its routes, `/health` over its parts' dependencies, `/openapi.json`, and
    its parts started and stopped with it."""
    app = base_app(verifier or JwksVerifier.of(settings))
    health = health_route(settings.service_name, checks_of(parts))
    serve_routes(app, settings.service_name, [*routes, health])
    run_parts(app, parts)
    return app


def run(app: web.Application | Awaitable[web.Application], settings: WebSettings) -> None:
    """Serve `app` until a signal stops it, on uvloop unless the settings turn it off."""
    loop = uvloop.new_event_loop() if settings.uvloop else None
    web.run_app(app, host=settings.host, port=settings.port, access_log=None, print=None, loop=loop)
