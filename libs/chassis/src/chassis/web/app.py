"""An aiohttp application from defaults that compose: each function adds one thing.

A service takes them all at once with `service_app`; the gateway and the web front end
compose the pieces they need (their own verifier, middlewares, health and documents).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from chassis.config import WebSettings
from chassis.logging import get_logger
from chassis.parts import Check, Part
from chassis.web.auth import Admission, TokenVerifier, auth_middleware
from chassis.web.context import context_middleware
from chassis.web.health import health_route
from chassis.web.openapi import OPENAPI_KEY, OPENAPI_ROUTE, Route, openapi_document
from chassis.web.problems import Handler, problem_middleware
from chassis.web.server import serve_forever
from chassis.web.verified_tokens import CachingVerifier

log = get_logger(__name__)


def base_app(
    verifier: TokenVerifier,
    middlewares: Sequence[Middleware] = (),
    *,
    admit: Admission | None = None,
    before_auth: Sequence[Middleware] = (),
    **app_args: Any,
) -> web.Application:
    """Request ids and access log, problems, `before_auth` (the gateway's trading of an API
    key for a bearer token), bearer tokens verified (`admit` seeing every request, a bad
    token's included), then `middlewares`."""
    return web.Application(
        middlewares=[
            context_middleware,
            problem_middleware,
            *before_auth,
            auth_middleware(verifier, admit),
            *middlewares,
        ],
        **app_args,
    )


def serve_routes(app: web.Application, title: str, routes: Sequence[Route]) -> None:
    """Register `routes` and `GET /openapi.json`, the document of all of them."""
    served = [*routes, OPENAPI_ROUTE]
    app.add_routes([route.definition() for route in served])
    app[OPENAPI_KEY] = openapi_document(title, served)


def other_methods_refused(routes: Sequence[Route]) -> list[web.RouteDef]:
    """On each path of `routes`, any method they do not have answered 405 with `Allow`.

    aiohttp does this by itself unless another route matches the path as well: an app with a
    catch-all route (the gateway's proxy) adds these after `routes`, before the catch-all.
    """
    allowed: dict[str, set[str]] = {}
    for route in routes:
        methods = allowed.setdefault(route.path, set())
        # aiohttp answers HEAD wherever there is a GET.
        methods.update(("GET", "HEAD") if route.method == "GET" else (route.method,))

    def refuse(methods: frozenset[str]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            raise web.HTTPMethodNotAllowed(request.method, methods)

        return handler

    return [web.route("*", path, refuse(frozenset(methods))) for path, methods in allowed.items()]


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
    app = base_app(verifier or CachingVerifier.of(settings))
    health = health_route(settings.service_name, checks_of(parts))
    serve_routes(app, settings.service_name, [*routes, health])
    run_parts(app, parts)
    return app


def run(app: web.Application | Awaitable[web.Application], settings: WebSettings) -> None:
    """Serve `app` on the settings' host and port until SIGINT or SIGTERM, on uvloop unless
    the settings turn it off."""
    serve_forever(app, settings.host, settings.port, on_uvloop=settings.uvloop)
