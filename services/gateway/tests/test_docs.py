"""API documents: each service's generated OpenAPI document, merged at the gateway, and AsyncAPI.

The stand-in upstreams serve the documents the real cars and bookings apps build, so no
MongoDB or RabbitMQ is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from openapi_spec_validator import validate

from bookings.main import BookingsSettings
from bookings.main import create_app as create_bookings_app
from cars.main import CarsSettings
from cars.main import create_app as create_cars_app
from chassis.web.openapi import OPENAPI_KEY
from contracts.asyncapi import published_events
from gateway.docs_page import render_docs

GATEWAY_PATHS = {"/health", "/health/{service}", "/openapi.json", "/docs", "/asyncapi.json"}


def served(app: web.Application) -> set[tuple[str, str]]:
    """What the app's router answers (HEAD comes with every GET)."""
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


@pytest.fixture(scope="module")
def service_apps() -> dict[str, web.Application]:
    """The real cars and bookings apps, built but never started (nothing connects)."""
    cars = create_cars_app(CarsSettings(log_level="WARNING"))
    bookings = create_bookings_app(BookingsSettings(log_level="WARNING"))
    return {"cars": cars, "bookings": bookings}


@pytest.fixture
def documents(service_apps: dict[str, web.Application]) -> dict[str, dict[str, Any]]:
    return {name: app[OPENAPI_KEY] for name, app in service_apps.items()}


class DocumentServer:
    """A stand-in upstream answering `/openapi.json` with a given document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.fetches = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/openapi.json", self.serve)
        return app

    async def serve(self, _: web.Request) -> web.Response:
        self.fetches += 1
        return web.json_response(self.document)


@pytest.fixture
async def upstream_docs(
    documents: dict[str, dict[str, Any]], serve_app: Callable[..., Any]
) -> AsyncIterator[dict[str, tuple[str, DocumentServer]]]:
    """Each service's document served on its own port: name to (base URL, server)."""
    async with contextlib.AsyncExitStack() as stack:
        servers = {name: DocumentServer(doc) for name, doc in documents.items()}
        yield {
            name: (await stack.enter_async_context(serve_app(server.app())), server)
            for name, server in servers.items()
        }


async def get_json(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(url) as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


@pytest.mark.parametrize("service", ["cars", "bookings"])
def test_each_service_documents_exactly_the_routes_it_serves(
    service: str, service_apps: dict[str, web.Application]
) -> None:
    app = service_apps[service]
    validate(app[OPENAPI_KEY])
    assert served(app) == documented(app[OPENAPI_KEY])
    assert {path for _, path in served(app)} >= {"/health", "/openapi.json"}


def test_a_route_added_without_a_description_is_noticed() -> None:
    async def photos(_: web.Request) -> web.Response:
        return web.Response()

    app = create_cars_app(CarsSettings(log_level="WARNING"))
    app.router.add_get("/cars/{car_id}/photos", photos)
    assert served(app) - documented(app[OPENAPI_KEY]) == {("GET", "/cars/{car_id}/photos")}


async def test_the_gateway_merges_both_services_documents(
    make_gateway: Any,
    http: aiohttp.ClientSession,
    upstream_docs: dict[str, tuple[str, DocumentServer]],
    documents: dict[str, dict[str, Any]],
) -> None:
    gateway = await make_gateway(upstreams={name: url for name, (url, _) in upstream_docs.items()})
    merged = await get_json(http, f"{gateway}/openapi.json")
    validate(merged)
    assert "x-unavailable" not in merged
    expected = {
        (method, path)
        for name, document in documents.items()
        for method, path in documented(document)
        if path.startswith(f"/{name}")
    }
    assert {(m, p) for m, p in documented(merged) if p not in GATEWAY_PATHS} == expected
    assert {p for _, p in documented(merged)} >= GATEWAY_PATHS
    assert merged["paths"]["/health"]["get"]["tags"] == ["gateway"]
    car = merged["paths"]["/cars/{car_id}"]["get"]["responses"]["200"]["content"]
    assert car["application/json"]["schema"] == {"$ref": "#/components/schemas/cars.CarOut"}
    assert "bookings.BookingOut" in merged["components"]["schemas"]
    # The problem schema every service shares is merged once.
    conflict = merged["paths"]["/bookings"]["post"]["responses"]["409"]["content"]
    assert conflict["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/ProblemDetails"
    }
    assert not any(name.endswith(".ProblemDetails") for name in merged["components"]["schemas"])
    # Only what the merged paths refer to: each service's /health is not among them.
    assert "cars.HealthReport" not in merged["components"]["schemas"]


async def test_the_merged_document_names_the_answers_the_gateway_gives_itself(
    make_gateway: Any,
    http: aiohttp.ClientSession,
    upstream_docs: dict[str, tuple[str, DocumentServer]],
) -> None:
    urls = {name: url for name, (url, _) in upstream_docs.items()}
    merged = await get_json(http, f"{await make_gateway(upstreams=urls)}/openapi.json")
    validate(merged)
    for path, item in merged["paths"].items():
        for operation in item.values():
            responses = operation["responses"]
            assert list(responses) == sorted(responses)
            assert {"401", "429"} <= set(responses), path
            upstream_failures = {"502", "504"} & set(responses)
            assert upstream_failures == (set() if path in GATEWAY_PATHS else {"502", "504"})
    assert "503" in merged["paths"]["/health"]["get"]["responses"]
    unlimited = await make_gateway(upstreams=urls, rate_limit_per_second=0, route_rate_limits=[])
    merged = await get_json(http, f"{unlimited}/openapi.json")
    assert not any("429" in op["responses"] for i in merged["paths"].values() for op in i.values())


async def test_only_paths_the_gateway_sends_to_an_upstream_are_taken_from_it(
    make_gateway: Any, http: aiohttp.ClientSession, serve_app: Callable[..., Any]
) -> None:
    def answer(schema: str) -> dict[str, Any]:
        content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
        return {"get": {"responses": {"200": {"description": "OK", "content": content}}}}

    server = DocumentServer(
        {
            "openapi": "3.1.0",
            "info": {"title": "cars", "version": "1"},
            "paths": {
                "/cars/mine": answer("ProblemDetails"),
                "/bookings/theirs": answer("Other"),
                "/health": answer("HealthReport"),
            },
            "components": {
                "schemas": {
                    "ProblemDetails": {"type": "string"},
                    "Other": {"type": "string"},
                    "HealthReport": {"type": "string"},
                }
            },
        }
    )
    async with serve_app(server.app()) as url:
        gateway = await make_gateway(upstreams={"cars": url})
        merged = await get_json(http, f"{gateway}/openapi.json")
    validate(merged)
    assert set(merged["paths"]) == GATEWAY_PATHS | {"/cars/mine"}
    # Not the shared problem schema: same name, other content.
    mine = merged["paths"]["/cars/mine"]["get"]["responses"]["200"]["content"]
    assert mine["application/json"]["schema"] == {
        "$ref": "#/components/schemas/cars.ProblemDetails"
    }
    assert merged["components"]["schemas"]["cars.ProblemDetails"] == {"type": "string"}
    assert "cars.Other" not in merged["components"]["schemas"]
    assert merged["paths"]["/health"]["get"]["tags"] == ["gateway"]


async def test_an_upstream_that_is_down_is_named_and_the_rest_still_served(
    make_gateway: Any,
    http: aiohttp.ClientSession,
    upstream_docs: dict[str, tuple[str, DocumentServer]],
    dead_upstream_url: str,
) -> None:
    cars_url, _ = upstream_docs["cars"]
    gateway = await make_gateway(upstreams={"cars": cars_url, "bookings": dead_upstream_url})
    merged = await get_json(http, f"{gateway}/openapi.json")
    validate(merged)
    assert merged["x-unavailable"] == ["bookings"]
    assert "bookings" in merged["info"]["description"]
    assert "/cars/{car_id}" in merged["paths"]
    assert not any(path.startswith("/bookings") for path in merged["paths"])


async def test_a_slow_upstream_is_given_up_on_within_the_docs_timeout(
    make_gateway: Any,
    http: aiohttp.ClientSession,
    upstream_docs: dict[str, tuple[str, DocumentServer]],
    serve_app: Callable[..., Any],
) -> None:
    async def hanging(_: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.Response()

    slow = web.Application()
    slow.router.add_get("/openapi.json", hanging)
    async with serve_app(slow) as slow_url:
        cars_url, _ = upstream_docs["cars"]
        gateway = await make_gateway(
            upstreams={
                "cars": cars_url,
                **dict.fromkeys(("bookings", "images", "emails"), slow_url),
            },
            docs_timeout=0.3,
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        merged = await get_json(http, f"{gateway}/openapi.json")
        # One after another they would take 3 x 0.3 s.
        assert loop.time() - started < 0.8
    assert merged["x-unavailable"] == ["bookings", "emails", "images"]


async def test_the_merged_document_is_cached_for_a_short_while(
    make_gateway: Any,
    http: aiohttp.ClientSession,
    upstream_docs: dict[str, tuple[str, DocumentServer]],
) -> None:
    urls = {name: url for name, (url, _) in upstream_docs.items()}
    _, cars = upstream_docs["cars"]
    cached = await make_gateway(upstreams=urls)
    await asyncio.gather(*(get_json(http, f"{cached}/openapi.json") for _ in range(5)))
    async with http.get(f"{cached}/docs") as response:
        assert response.status == 200
    assert cars.fetches == 1
    uncached = await make_gateway(upstreams=urls, docs_cache_seconds=0)
    for _ in range(2):
        await get_json(http, f"{uncached}/openapi.json")
    assert cars.fetches == 3


async def test_the_docs_page_lists_every_operation_and_loads_nothing(
    make_gateway: Any,
    http: aiohttp.ClientSession,
    upstream_docs: dict[str, tuple[str, DocumentServer]],
) -> None:
    gateway = await make_gateway(upstreams={name: url for name, (url, _) in upstream_docs.items()})
    merged = await get_json(http, f"{gateway}/openapi.json")
    async with http.get(f"{gateway}/docs") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        page = await response.text()
    for path, item in merged["paths"].items():
        for method, operation in item.items():
            assert f'id="{operation["operationId"]}"' in page
            assert f"<code>{path}</code>" in page, (method, path)
    for name in merged["components"]["schemas"]:
        assert f'id="schema-{name}"' in page
    assert '<a href="#schema-cars.CarOut">cars.CarOut</a>' in page
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


async def test_the_asyncapi_document_lists_every_integration_event(
    gateway: str, http: aiohttp.ClientSession
) -> None:
    document = await get_json(http, f"{gateway}/asyncapi.json")
    assert document["asyncapi"] == "3.0.0"
    events = published_events()
    assert len(events) >= 8
    for event in events:
        assert event.event_type in document["channels"], event
    assert {"cars.reserve", "cars.release"} <= set(document["operations"])


async def test_the_documents_are_the_gateways_own_and_need_no_token(
    gateway: str, http: aiohttp.ClientSession, cars: Any, bookings: Any
) -> None:
    for path in ("/openapi.json", "/docs", "/asyncapi.json"):
        async with http.get(f"{gateway}{path}") as response:
            assert response.status == 200, path
    assert cars.hits == bookings.hits == 0


def test_the_docs_page_escapes_what_the_documents_say() -> None:
    hostile = "<script>alert(1)</script>"
    page = render_docs(
        {
            "info": {"title": hostile, "description": hostile},
            "paths": {"/cars/x": {"get": {"operationId": hostile, "summary": hostile}}},
            "components": {"schemas": {hostile: {"description": hostile}}},
        }
    )
    assert "<script" not in page
    assert "&lt;script&gt;" in page
