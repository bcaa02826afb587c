"""The reverse proxy: one upstream request per client request, bodies streamed both ways."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from chassis.logging import current_ids, get_logger, new_id
from chassis.web.problems import Problem
from gateway.headers import downstream_headers, upstream_headers
from gateway.routes import RouteTable

log = get_logger(__name__)

# What the proxy itself answers on any upstream route: the upstream unreachable, or too slow.
UPSTREAM_FAILURES = (502, 504)


class BodyTooLarge(Exception):
    pass


class Proxy:
    def __init__(
        self,
        routes: RouteTable,
        upstreams: Mapping[str, str],
        session: aiohttp.ClientSession,
        max_body_bytes: int,
    ) -> None:
        self._routes = routes
        self._upstreams = dict(upstreams)
        self._session = session
        self._max_body_bytes = max_body_bytes

    async def handle(self, request: web.Request) -> web.StreamResponse:
        service = self._routes.match(request.path)
        if service is None:
            raise Problem(404, f"No route for {request.path}.")
        # Settings refuse a route to a service without an upstream.
        base_url = self._upstreams[service]
        bound_request_id, bound_correlation_id = current_ids()
        request_id = bound_request_id or new_id()
        correlation_id = bound_correlation_id or request_id
        try:
            upstream = await self._session.request(
                request.method,
                URL(base_url + request.rel_url.raw_path_qs, encoded=True),
                headers=upstream_headers(request, request_id, correlation_id),
                data=self._body(request),
                allow_redirects=False,
            )
        except TimeoutError as exc:
            raise Problem(504, f"The {service} service did not answer in time.") from exc
        except aiohttp.ClientError as exc:
            if isinstance(exc.__cause__, BodyTooLarge):
                raise self._too_large() from exc
            raise Problem(502, f"The {service} service is unreachable.") from exc
        async with upstream:
            headers = downstream_headers(upstream.headers, request_id, correlation_id)
            if upstream.content.is_eof():
                # The whole body arrived with the headers: answer in a single write.
                body = await upstream.read()
                return web.Response(
                    status=upstream.status, reason=upstream.reason, headers=headers, body=body
                )
            return await self._stream(request, upstream, headers, service)

    async def _stream(
        self,
        request: web.Request,
        upstream: aiohttp.ClientResponse,
        headers: CIMultiDict[str],
        service: str,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=headers
        )
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except ConnectionResetError:
            # The client went away; nothing is left to answer.
            pass
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("proxy.upstream_body_failed", service=service, error=repr(exc))
            # The status line is gone already: cut the connection so the client sees
            # a truncated body rather than a cleanly ended one.
            if request.transport is not None:
                request.transport.close()
        return response

    def _body(self, request: web.Request) -> aiohttp.StreamReader | AsyncIterator[bytes] | None:
        if not request.body_exists:
            return None
        length = request.content_length
        if length is None:
            return self._limited(request.content)
        if length > self._max_body_bytes:
            raise self._too_large()
        return request.content

    async def _limited(self, content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
        """A chunked body, cut off once it passes the limit."""
        sent = 0
        async for chunk in content.iter_any():
            sent += len(chunk)
            if sent > self._max_body_bytes:
                raise BodyTooLarge
            yield chunk

    def _too_large(self) -> Problem:
        return Problem(413, f"The request body exceeds {self._max_body_bytes} bytes.")
