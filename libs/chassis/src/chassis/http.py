"""aiohttp plumbing shared by every service: ids, access log, problems, parsing."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Self, TypeVar

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import AwareDatetime, BaseModel, Field, ValidationError, model_validator

from chassis.logging import (
    CORRELATION_ID_HEADER,
    REQUEST_ID_HEADER,
    bound_ids,
    current_ids,
    get_logger,
)
from chassis.problems import Problem, validation_problem

log = get_logger(__name__)
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every error as a problem and echo the request and correlation ids."""
    request_id, correlation_id = current_ids()
    ids = {REQUEST_ID_HEADER: request_id or "", CORRELATION_ID_HEADER: correlation_id or ""}
    try:
        response = await handler(request)
    except Problem as problem:
        response = problem.response(request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = Problem(
            exc.status,
            exc.text if exc.text != exc.reason else None,
            headers={
                k: v
                for k, v in exc.headers.items()
                if k in ("Allow", "Retry-After", "WWW-Authenticate")
            },
        ).response(request.path)
    except Exception:
        log.exception("http.unhandled_error")
        response = Problem(500, "An unexpected error occurred.").response(request.path)
    if not response.prepared:
        response.headers.update(ids)
    return response


async def read_json(request: web.Request, model: type[M]) -> M:
    """Parse and validate a JSON body; malformed JSON is 400, a wrong shape 422."""
    if request.content_type != "application/json":
        raise Problem(415, "Send the body as application/json.")
    raw = await request.read()
    try:
        data: Any = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Problem(400, f"The body is not valid JSON: {exc}", title="Malformed JSON") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc, "body") from exc


def read_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise validation_problem(exc, "query") from exc


def json_response(
    data: BaseModel | list[BaseModel] | dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    if isinstance(data, BaseModel):
        text = data.model_dump_json()
    elif isinstance(data, list):
        text = "[" + ",".join(item.model_dump_json() for item in data) + "]"
    else:
        text = json.dumps(data, default=str)
    return web.Response(text=text, status=status, content_type="application/json", headers=headers)


class TimeWindow(BaseModel):
    """`from_utc`/`to_utc` of routes that take a time frame: both with an offset, in order."""

    from_utc: AwareDatetime
    to_utc: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.from_utc >= self.to_utc:
            raise ValueError("from_utc must be before to_utc")
        return self


class Page(BaseModel):
    """`limit`/`offset` of every list route."""

    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


def domain_errors(statuses: Mapping[type[Exception], int]) -> Middleware:
    """Answer a service's domain exceptions with a problem of the status it maps them to."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except tuple(statuses) as exc:
            status = next(s for kind, s in statuses.items() if isinstance(exc, kind))
            raise Problem(status, str(exc) or None) from exc

    return middleware
