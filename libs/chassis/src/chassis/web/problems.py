"""RFC 9457 problem details for every error an HTTP process answers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from chassis.errors import (
    Conflict,
    DomainError,
    Gone,
    Locked,
    NotAllowed,
    NotFound,
    RuleViolation,
    Unauthenticated,
    Unavailable,
)
from chassis.logging import CORRELATION_ID_HEADER, REQUEST_ID_HEADER, current_ids, get_logger

log = get_logger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PROBLEM_CONTENT_TYPE = "application/problem+json"

# Each kind of domain failure, as HTTP says it; subclasses match their nearest kind.
DOMAIN_STATUSES: Mapping[type[DomainError], int] = {
    RuleViolation: 422,
    Unauthenticated: 401,
    NotFound: 404,
    Conflict: 409,
    NotAllowed: 403,
    Gone: 410,
    Locked: 423,
    Unavailable: 503,
}
# Headers an aiohttp HTTP error may carry that the client needs to act on.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


class FieldError(BaseModel):
    field: str
    message: str


class ProblemDetails(BaseModel):
    """The body of every error answer; the OpenAPI documents describe errors with it."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem response."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = None,
        errors: Sequence[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title or HTTPStatus(status).phrase
        self.detail = detail
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})

    def body(self, instance: str | None = None) -> dict[str, Any]:
        details = ProblemDetails.model_validate(
            {
                "title": self.title,
                "status": self.status,
                "detail": self.detail or None,
                "instance": instance or None,
                "errors": self.errors,
            }
        )
        return details.model_dump(exclude_none=True)

    def response(self, instance: str | None = None) -> web.Response:
        return web.Response(
            status=self.status,
            text=json.dumps(self.body(instance)),
            content_type=PROBLEM_CONTENT_TYPE,
            headers=self.headers,
        )

    @classmethod
    def of(cls, error: DomainError) -> Problem:
        status = next(s for kind, s in DOMAIN_STATUSES.items() if isinstance(error, kind))
        headers: dict[str, str] = {}
        if isinstance(error, Locked):
            headers["Retry-After"] = str(error.retry_after)
        if isinstance(error, Unauthenticated):
            headers["WWW-Authenticate"] = "Bearer"
        return cls(status, str(error) or None, headers=headers)


def validation_problem(exc: ValidationError, where: str = "body") -> Problem:
    errors = [
        {"field": ".".join(str(p) for p in err["loc"]) or where, "message": err["msg"]}
        for err in exc.errors(include_url=False)
    ]
    return invalid(errors, where)


def invalid(errors: list[dict[str, str]], where: str = "body") -> Problem:
    """The 422 of a request whose `errors` ({field, message}) a rule beyond its model found."""
    return Problem(
        422, f"The request {where} is not valid.", title="Validation failed", errors=errors
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
    except DomainError as error:
        response = Problem.of(error).response(request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = Problem(
            exc.status,
            exc.text if exc.text != exc.reason else None,
            headers={k: v for k, v in exc.headers.items() if k in _KEPT_HEADERS},
        ).response(request.path)
    except Exception:
        log.exception("http.unhandled_error")
        response = Problem(500, "An unexpected error occurred.").response(request.path)
    if not response.prepared:
        response.headers.update(ids)
    return response
