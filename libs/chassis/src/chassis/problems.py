"""RFC 9457 problem details for every error a service answers."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

PROBLEM_CONTENT_TYPE = "application/problem+json"


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


def validation_problem(exc: ValidationError, where: str = "body") -> Problem:
    errors = [
        {"field": ".".join(str(p) for p in err["loc"]) or where, "message": err["msg"]}
        for err in exc.errors(include_url=False)
    ]
    return Problem(
        422, f"The request {where} is not valid.", title="Validation failed", errors=errors
    )
