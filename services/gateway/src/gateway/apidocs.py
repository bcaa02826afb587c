"""The public API documents: every upstream's OpenAPI document merged, and the AsyncAPI one."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from aiohttp import web

from chassis.logging import get_logger
from chassis.web.openapi import (
    SCHEMAS,
    Route,
    openapi_document,
    problem_response,
    referenced_schemas,
)
from chassis.web.parsing import json_response
from contracts.asyncapi import asyncapi_document
from gateway.docs_page import render_docs
from gateway.proxy import UPSTREAM_FAILURES
from gateway.routes import RouteTable

log = get_logger(__name__)

Document = dict[str, Any]

# The page is ours alone: no script, and nothing loaded from anywhere.
DOCS_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


def _renamed(node: Any, names: Mapping[str, str]) -> Any:
    """`node` with its references to component schemas renamed as `names` says."""
    if isinstance(node, dict):
        return {
            key: (
                SCHEMAS + names.get(value.removeprefix(SCHEMAS), value.removeprefix(SCHEMAS))
                if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMAS)
                else _renamed(value, names)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_renamed(item, names) for item in node]
    return node


def _shared(schemas: Mapping[str, Any], merged: Mapping[str, Any]) -> set[str]:
    """Names of `schemas` identical to one merged already, and all they refer to as well."""
    shared = {name for name, schema in schemas.items() if merged.get(name) == schema}
    while unshared := {
        name for name in shared if not referenced_schemas(schemas[name], schemas).keys() <= shared
    }:
        shared -= unshared
    return shared


def _answered_by_the_gateway(paths: dict[str, Any], statuses: Sequence[int]) -> None:
    for item in paths.values():
        for operation in item.values():
            if isinstance(operation, dict):
                responses = operation.setdefault("responses", {})
                for status in statuses:
                    responses.setdefault(str(status), problem_response(status))
                operation["responses"] = dict(sorted(responses.items()))


def merge(
    gateway: Document,
    upstreams: Mapping[str, Document | None],
    routes: RouteTable,
    statuses: Sequence[int] = (),
) -> Document:
    """The gateway's own document plus, from each upstream, the paths the gateway sends it,
    each operation also answering `statuses`: the problems the gateway answers itself.

    An upstream's schemas are renamed `<service>.<name>`, as two services may each have a
    `Page` of their own, unless identical to one already there (the problem schema). An
    upstream without a document (None) is listed under `x-unavailable`.
    """
    merged = copy.deepcopy(gateway)
    schemas = merged["components"]["schemas"]
    for service, document in upstreams.items():
        if document is None:
            continue
        own = document.get("components", {}).get("schemas", {})
        shared = _shared(own, schemas)
        names = {name: name if name in shared else f"{service}.{name}" for name in own}
        paths = _renamed(
            {
                path: item
                for path, item in document.get("paths", {}).items()
                if routes.match(path) == service
            },
            names,
        )
        _answered_by_the_gateway(paths, statuses)
        merged["paths"].update(paths)
        renamed = {names[name]: _renamed(schema, names) for name, schema in own.items()}
        schemas.update(referenced_schemas(paths, renamed))
    merged["components"]["schemas"] = dict(sorted(schemas.items()))
    merged["info"] = {
        "title": "Platform API",
        "version": gateway["info"]["version"],
        "description": "Every public route, through the gateway.",
    }
    unavailable = sorted(name for name, document in upstreams.items() if document is None)
    if unavailable:
        merged["x-unavailable"] = unavailable
        merged["info"]["description"] += (
            f" Not included, as they did not answer: {', '.join(unavailable)}."
        )
    return merged


class ApiDocs:
    """Serves `/openapi.json`, `/docs` and `/asyncapi.json`.

    Upstream documents are fetched concurrently, each within `timeout`, and the merged
    document is kept `cache_seconds`; a burst of requests waits for one refresh. `statuses`
    are the problems the gateway answers on every route (429 while it limits rates); on the
    upstreams' routes it also answers their failures.
    """

    def __init__(
        self,
        gateway_routes: Sequence[Route],
        routes: RouteTable,
        upstreams: Mapping[str, str],
        session: aiohttp.ClientSession,
        *,
        timeout: float,
        cache_seconds: float,
        statuses: Sequence[int] = (),
    ) -> None:
        self.routes = [
            Route(
                "GET",
                "/openapi.json",
                self._openapi,
                "The OpenAPI document of every public route, the gateway's and its services'",
                response=dict[str, Any],
                public=True,
            ),
            Route(
                "GET",
                "/docs",
                self._docs,
                "The OpenAPI document as a page to read",
                response=str,
                media_type="text/html",
                public=True,
            ),
            Route(
                "GET",
                "/asyncapi.json",
                self._asyncapi,
                "The AsyncAPI document of the domain events and the commands",
                response=dict[str, Any],
                public=True,
            ),
        ]
        self._own = openapi_document("gateway", [*gateway_routes, *self.routes], statuses=statuses)
        self._upstream_statuses = (*statuses, *UPSTREAM_FAILURES)
        self._events = asyncapi_document()
        self._route_table = routes
        self._upstreams = dict(upstreams)
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, Document] | None = None
        self._lock = asyncio.Lock()

    async def openapi(self) -> Document:
        async with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] >= self._cache_seconds:
                names = list(self._upstreams)
                fetched = await asyncio.gather(*(self._fetch(name) for name in names))
                merged = merge(
                    self._own,
                    dict(zip(names, fetched, strict=True)),
                    self._route_table,
                    self._upstream_statuses,
                )
                self._cached = (time.monotonic(), merged)
            return self._cached[1]

    async def _fetch(self, service: str) -> Document | None:
        url = f"{self._upstreams[service]}/openapi.json"
        try:
            async with self._session.get(
                url, timeout=self._timeout, allow_redirects=False
            ) as response:
                response.raise_for_status()
                document = json.loads(await response.read())
            if not isinstance(document, dict):
                raise ValueError("the document is not a JSON object")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("docs.upstream_unavailable", service=service, error=repr(exc))
            return None
        return document

    async def _openapi(self, _: web.Request) -> web.Response:
        return json_response(await self.openapi())

    async def _docs(self, _: web.Request) -> web.Response:
        return web.Response(
            text=render_docs(await self.openapi()),
            content_type="text/html",
            headers={"Content-Security-Policy": DOCS_PAGE_POLICY},
        )

    async def _asyncapi(self, _: web.Request) -> web.Response:
        return json_response(self._events)
