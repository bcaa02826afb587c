"""Composition root: settings, one shared upstream connection pool, middlewares, routes."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from chassis.logging import configure_logging
from chassis.web.app import base_app, other_methods_refused, run
from chassis.web.verified_tokens import CachingVerifier
from gateway.apidocs import ApiDocs
from gateway.apikeys import KeyExchange, api_key_middleware
from gateway.proxy import Proxy
from gateway.ratelimit import RateLimiter, RouteLimits, rate_limit
from gateway.routes import RouteTable
from gateway.settings import GatewaySettings
from gateway.upstream_health import upstreams_health_routes


def upstream_session(settings: GatewaySettings) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=settings.upstream_max_connections),
        timeout=aiohttp.ClientTimeout(
            total=None,
            sock_connect=settings.upstream_connect_timeout,
            sock_read=settings.upstream_read_timeout,
        ),
        # Bodies pass through byte for byte, encoded as the upstream sent them.
        auto_decompress=False,
        # One session serves every client: it must never remember one client's cookies.
        cookie_jar=aiohttp.DummyCookieJar(),
        # Forward the client's own headers only, none of the library's defaults.
        skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
    )


async def create_app(settings: GatewaySettings) -> web.Application:
    session = upstream_session(settings)
    verifier = CachingVerifier.of(settings)
    admit = None
    # Documented on every route: what the gateway's middlewares answer themselves.
    statuses: list[int] = []
    limiter = None
    if settings.rate_limit_per_second > 0:
        limiter = RateLimiter(
            settings.rate_limit_per_second,
            settings.rate_limit_burst,
            settings.rate_limit_max_callers,
        )
    route_limits = RouteLimits(
        [
            (
                limit.method,
                limit.path,
                RateLimiter(limit.per_second, limit.burst, settings.rate_limit_max_callers),
            )
            for limit in settings.route_rate_limits
        ]
    )
    if limiter is not None or route_limits:
        statuses.append(429)
        admit = rate_limit(limiter, settings.trusted_proxies, route_limits)
    routes = RouteTable(settings.routes)
    proxy = Proxy(routes, settings.upstreams, session, settings.max_body_bytes)
    health = upstreams_health_routes(
        settings.service_name, session, settings.upstreams, settings.health_timeout
    )
    docs = ApiDocs(
        health,
        routes,
        settings.upstreams,
        session,
        timeout=settings.docs_timeout,
        cache_seconds=settings.docs_cache_seconds,
        statuses=statuses,
    )
    keys = KeyExchange(
        session,
        settings.upstreams.get(settings.api_key_service),
        cache_seconds=settings.api_key_cache_seconds,
        timeout=settings.api_key_exchange_timeout,
        max_entries=settings.api_key_cache_size,
    )
    app = base_app(
        verifier,
        admit=admit,
        # An API key becomes a bearer token before the token is verified and admitted.
        before_auth=[api_key_middleware(keys, admit)],
        # Request bodies are forwarded still encoded, like responses.
        handler_args={"auto_decompress": False},
    )
    own = [*health, *docs.routes]
    app.add_routes(
        [
            *(route.definition() for route in own),
            *other_methods_refused(own),
            web.route("*", "/{path:.*}", proxy.handle),
        ]
    )

    async def close_session(_: web.Application) -> None:
        await session.close()

    app.on_cleanup.append(close_session)
    return app


def main() -> None:
    settings = GatewaySettings()
    configure_logging(settings.service_name, settings.log_level)
    run(create_app(settings), settings)
