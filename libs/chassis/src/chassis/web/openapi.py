"""OpenAPI 3.1 from the routes themselves: a route is registered and described by one record."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from chassis.web.auth import require_caller
from chassis.web.parsing import json_response
from chassis.web.problems import PROBLEM_CONTENT_TYPE, Handler, ProblemDetails

OPENAPI_VERSION = "3.1.0"
SCHEMAS = "#/components/schemas/"
SCHEMA_REF = SCHEMAS + "{model}"
BEARER = "bearer"
BEARER_SCHEME = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
OPENAPI_KEY = web.AppKey("openapi", dict[str, Any])

# `{name}` or `{name:regex}` in an aiohttp path.
_PATH_PARAMETER = re.compile(r"\{(\w+)(?::[^}]*)?\}")


@dataclass(frozen=True)
class Route:
    """One HTTP route: what aiohttp registers and what the OpenAPI document says about it.

    `response` is a model, `list[Model]`, any other type pydantic can describe, or None for
    an answer without a body; it is sent as `media_type`. `errors` are the statuses the
    handler itself may answer with a problem; those the chassis answers for every route are
    added from `body`, `query` and `public`.
    """

    method: str
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[Any] | None = None
    status: int = 200
    media_type: str = "application/json"
    errors: tuple[int, ...] = ()
    public: bool = False

    def definition(self) -> web.RouteDef:
        """The aiohttp route; one not `public` refuses a caller without a token, so the
        document and the behaviour cannot disagree on that."""
        if self.public:
            return web.route(self.method, self.path, self.handler)
        handler = self.handler

        async def signed_in(request: web.Request) -> web.StreamResponse:
            require_caller(request)
            return await handler(request)

        return web.route(self.method, self.path, signed_in)

    @property
    def openapi_path(self) -> str:
        return _PATH_PARAMETER.sub(r"{\1}", self.path)

    def error_statuses(self) -> list[int]:
        implied = set(self.errors)
        if not self.public:
            implied.add(401)
        if self.body is not None:
            implied.update((400, 415, 422))
        if self.query is not None:
            implied.add(422)
        return sorted(implied)


class _Schemas:
    """Every type the routes name, described in one pass so shared models are defined once."""

    def __init__(self, routes: Sequence[Route]) -> None:
        inputs: list[tuple[tuple[int, str], JsonSchemaMode, TypeAdapter[Any]]] = [
            ((-1, "problem"), "serialization", TypeAdapter(ProblemDetails))
        ]
        for i, route in enumerate(routes):
            if route.body is not None:
                inputs.append(((i, "body"), "validation", TypeAdapter(route.body)))
            if route.query is not None:
                inputs.append(((i, "query"), "validation", TypeAdapter(route.query)))
            if route.response is not None:
                inputs.append(((i, "response"), "serialization", TypeAdapter(route.response)))
        described, definitions = TypeAdapter.json_schemas(inputs, ref_template=SCHEMA_REF)
        self._described = {key: schema for (key, _), schema in described.items()}
        self.components: dict[str, Any] = definitions.get("$defs", {})

    def of(self, index: int, part: str) -> dict[str, Any]:
        return self._described[(index, part)]

    def properties(self, index: int, part: str) -> tuple[dict[str, Any], set[str]]:
        """The fields of a model described by reference, and which of them are required."""
        name = self.of(index, part)["$ref"].removeprefix(SCHEMAS)
        model = self.components[name]
        return model.get("properties", {}), set(model.get("required", ()))


def _parameters(route: Route, index: int, schemas: _Schemas) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAMETER.findall(route.path)
    ]
    if route.query is not None:
        properties, required = schemas.properties(index, "query")
        parameters += [
            {"name": name, "in": "query", "required": name in required, "schema": schema}
            for name, schema in properties.items()
        ]
    return parameters


def _operation(route: Route, index: int, schemas: _Schemas, tag: str) -> dict[str, Any]:
    success: dict[str, Any] = {"description": HTTPStatus(route.status).phrase}
    if route.response is not None:
        success["content"] = {route.media_type: {"schema": schemas.of(index, "response")}}
    problem = {PROBLEM_CONTENT_TYPE: {"schema": schemas.of(-1, "problem")}}
    operation: dict[str, Any] = {
        "operationId": route.method.lower() + re.sub(r"\W+", "_", route.openapi_path).rstrip("_"),
        "summary": route.summary,
        "tags": [tag],
        "responses": {
            str(route.status): success,
            **{
                str(status): {"description": HTTPStatus(status).phrase, "content": problem}
                for status in route.error_statuses()
            },
        },
    }
    if parameters := _parameters(route, index, schemas):
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas.of(index, "body")}},
        }
    if not route.public:
        operation["security"] = [{BEARER: []}]
    return operation


def referenced_schemas(node: object, schemas: Mapping[str, Any]) -> dict[str, Any]:
    """The `schemas` that `node` refers to, directly or through other schemas."""
    found: dict[str, Any] = {}
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(SCHEMAS):
                name = ref.removeprefix(SCHEMAS)
                if name not in found and name in schemas:
                    found[name] = schemas[name]
                    pending.append(schemas[name])
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return dict(sorted(found.items()))


def openapi_document(title: str, routes: Sequence[Route], version: str = "1") -> dict[str, Any]:
    """The document of `routes`, each operation tagged `title`."""
    schemas = _Schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for index, route in enumerate(routes):
        operations = paths.setdefault(route.openapi_path, {})
        operations[route.method.lower()] = _operation(route, index, schemas, title)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            # Query models are spelled out as parameters, so only what is referenced stays,
            # and the problem schema, shared by every service.
            "schemas": referenced_schemas([paths, schemas.of(-1, "problem")], schemas.components),
            "securitySchemes": {BEARER: BEARER_SCHEME},
        },
    }


async def _serve_document(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI_KEY])


# The document it serves is the one `chassis.web.app.serve_routes` stores under OPENAPI_KEY.
OPENAPI_ROUTE = Route(
    "GET",
    "/openapi.json",
    _serve_document,
    "This service's OpenAPI document",
    response=dict[str, Any],
    public=True,
)
