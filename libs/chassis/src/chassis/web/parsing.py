"""Reading requests into pydantic models and writing JSON answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Self, TypeVar

from aiohttp import MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from chassis.errors import DomainError
from chassis.timeframe import InvalidTimeFrame, TimeFrame
from chassis.web.problems import Problem, validation_problem

M = TypeVar("M", bound=BaseModel)


async def read_json(request: web.Request, model: type[M], *, max_bytes: int | None = None) -> M:
    """Parse and validate a JSON body; malformed JSON is 400, a wrong shape 422.

    `max_bytes` is a route's own limit, below the app's `client_max_size`: a body over it
    is 413, refused while reading (by its Content-Length, or once that many bytes came),
    before anything is parsed.
    """
    if request.content_type != "application/json":
        raise Problem(415, "Send the body as application/json.")
    raw = await request.read() if max_bytes is None else await _read_at_most(request, max_bytes)
    try:
        data: Any = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Problem(400, f"The body is not valid JSON: {exc}", title="Malformed JSON") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc, "body") from exc


# What aiohttp's multipart reader raises, at any part, of a body that is not a form.
MALFORMED_FORM = (ValueError, HttpProcessingError)


@asynccontextmanager
async def multipart_form(request: web.Request, how: str) -> AsyncIterator[MultipartReader]:
    """The body as multipart/form-data, read as a stream inside the block. Another content
    type is 415 (`how` says how to send it); a body that turns out not to be a well-formed
    form, wherever in the block that shows (a part's headers, its end), is 400. The
    failures of the domain raised in the block go on as they are."""
    if request.content_type != "multipart/form-data":
        raise Problem(415, how)
    try:
        yield await request.multipart()
    except DomainError:
        raise
    except MALFORMED_FORM as exc:
        raise Problem(
            400, f"The body is not valid multipart/form-data: {exc}", title="Malformed form"
        ) from exc


async def _read_at_most(request: web.Request, max_bytes: int) -> bytes:
    too_large = Problem(413, f"The request body exceeds {max_bytes} bytes.")
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    # A chunked body says nothing of its length up front: read no more than one byte past.
    raw = bytearray()
    while chunk := await request.content.read(max_bytes + 1 - len(raw)):
        raw += chunk
        if len(raw) > max_bytes:
            raise too_large
    return bytes(raw)


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


MAX_LIMIT = 500
# MongoDB walks past every skipped document, and cannot be sent a number past 2**63 at all.
MAX_OFFSET = 10_000


class Page(BaseModel):
    """`limit`/`offset` of every list route, bounded: past the bounds is a 422."""

    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


def _frame_rule(schema: dict[str, Any], model: type[Any]) -> None:
    """Write the rule across the two fields into the schema, under the names it reads them by.

    JSON Schema cannot compare two fields, so the rule is a description; breaking it is a 422.
    """
    fields = model.model_fields
    start, end = (fields[name].alias or name for name in ("from_utc", "to_utc"))
    properties = schema.get("properties", {})
    schema["description"] = f"`{start}` is before `{end}`."
    properties[start]["description"] = f"Start of the frame, with a UTC offset; before `{end}`."
    properties[end]["description"] = f"End of the frame, with a UTC offset; after `{start}`."


class TimeFrameFields(BaseModel):
    """`from_utc`/`to_utc` of a query or body naming a time frame (both with an offset);
    a subclass may name them otherwise with aliases."""

    model_config = ConfigDict(json_schema_extra=_frame_rule)

    from_utc: AwareDatetime
    to_utc: AwareDatetime

    @model_validator(mode="after")
    def _is_a_frame(self) -> Self:
        try:
            TimeFrame(self.from_utc, self.to_utc)
        except InvalidTimeFrame as exc:
            # Reported as a validation error of the model reading it: 422 with the reason.
            raise ValueError(str(exc)) from exc
        return self

    @property
    def frame(self) -> TimeFrame:
        return TimeFrame(self.from_utc, self.to_utc)
