"""OpenAPI 3.1 from the routes themselves: a route is registered and described by one record."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
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

# `{name}` or `{name:regex}` in an aiohttp path; the regex may hold `{m,n}` quantifiers.
_PATH_PARAMETER = re.compile(r"\{(\w+)(?::((?:[^{}]|\{[^{}]*\})+))?\}")

PROBLEM_SCHEMA = {"$ref": SCHEMA_REF.format(model=ProblemDetails.__name__)}
# What an answer means wherever the chassis or the gateway gives it; the others are the route's.
_MEANINGS: Mapping[int, str] = {
    400: "the body is not valid JSON",
    401: "no bearer token, or one that is not valid",
    413: "the body is larger than accepted",
    415: "the body is not sent as application/json",
    422: "the query or body breaks its schema, or a rule it states",
    429: "too many requests from this caller; retry after `Retry-After` seconds",
    431: "a header field is too large, or there are too many of them",
    502: "the service behind the gateway is unreachable",
    504: "the service behind the gateway did not answer in time",
}
_HEADERS: Mapping[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
    429: {"Retry-After": {"required": True, "schema": {"type": "string"}}},
}


def problem_response(status: int) -> dict[str, Any]:
    """The response object of an error answered as a problem (`ProblemDetails`)."""
    phrase = HTTPStatus(status).phrase
    meaning = _MEANINGS.get(status)
    response: dict[str, Any] = {
        "description": f"{phrase}: {meaning}" if meaning else phrase,
        "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_SCHEMA}},
    }
    if status in _HEADERS:
        response["headers"] = _HEADERS[status]
    return response


@dataclass(frozen=True)
class Route:
    """One HTTP route: what aiohttp registers and what the OpenAPI document says about it.

    `response` is a model, `list[Model]`, any other type pydantic can describe, or None for
    an answer without a body; it is sent as `media_type`, with `status` or any of
    `other_statuses` (health's 503). `form` describes a multipart/form-data body, which the
    handler reads as a stream (a `bytes` field is a file). `errors` are the statuses the
    handler itself may answer with a problem; those the chassis answers are added from `body`,
    `form` and `query`, and 401 on every route: a bearer token that is sent is verified even
    where none is needed.
    """

    method: str
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    form: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[Any] | None = None
    status: int = 200
    media_type: str = "application/json"
    other_statuses: tuple[int, ...] = ()
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
        # 431: the chassis' server refuses oversized headers before any route is chosen.
        implied = {*self.errors, 401, 431}
        if self.body is not None or self.form is not None:
            # 413: aiohttp refuses a body over the app's `client_max_size` (a form, over the
            # handler's own limit).
            implied.update((400, 413, 415, 422))
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
            if route.form is not None:
                inputs.append(((i, "form"), "validation", TypeAdapter(route.form)))
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


def _path_schema(regex: str) -> dict[str, Any]:
    # aiohttp matches the whole segment; a JSON Schema pattern matches anywhere unless anchored.
    return {"type": "string", "pattern": f"^(?:{regex})$"} if regex else {"type": "string"}


def _parameters(route: Route, index: int, schemas: _Schemas) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(regex)}
        for name, regex in _PATH_PARAMETER.findall(route.path)
    ]
    if route.query is not None:
        properties, required = schemas.properties(index, "query")
        parameters += [
            {"name": name, "in": "query", "required": name in required, "schema": schema}
            for name, schema in properties.items()
        ]
    return parameters


def _operation(
    route: Route, index: int, schemas: _Schemas, tag: str, statuses: Iterable[int]
) -> dict[str, Any]:
    def answer(status: int) -> dict[str, Any]:
        response: dict[str, Any] = {"description": HTTPStatus(status).phrase}
        if route.response is not None:
            response["content"] = {route.media_type: {"schema": schemas.of(index, "response")}}
        return response

    responses = {
        **{status: problem_response(status) for status in {*route.error_statuses(), *statuses}},
        **{status: answer(status) for status in (route.status, *route.other_statuses)},
    }
    operation: dict[str, Any] = {
        "operationId": route.method.lower() + re.sub(r"\W+", "_", route.openapi_path).rstrip("_"),
        "summary": route.summary,
        "tags": [tag],
        "responses": {str(status): responses[status] for status in sorted(responses)},
    }
    if parameters := _parameters(route, index, schemas):
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas.of(index, "body")}},
        }
    if route.form is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": schemas.of(index, "form")}},
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


def openapi_document(
    title: str, routes: Sequence[Route], version: str = "1", *, statuses: Iterable[int] = ()
) -> dict[str, Any]:
    """The document of `routes`, each operation tagged `title`; `statuses` are the problems
    the app answers on every route besides those of the chassis (the gateway's 429)."""
    schemas = _Schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    every_route = tuple(statuses)
    for index, route in enumerate(routes):
        operations = paths.setdefault(route.openapi_path, {})
        operations[route.method.lower()] = _operation(route, index, schemas, title, every_route)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            # Query models are spelled out as parameters, so only what is referenced stays,
            # and the problem schema, shared by every service.
            "schemas": referenced_schemas([paths, PROBLEM_SCHEMA], schemas.components),
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
