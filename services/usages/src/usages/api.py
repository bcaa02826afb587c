"""Recording routes: what a web page (or any client) tells of what its visitor did.

Public: the website records page views, uses and crashes before anyone signs in, naming the
visitor by an anonymous id of its own making. With a bearer token the caller is the one
counted, and their tenant the group. Bodies are small and bounded (`RECORD_MAX_BYTES`, then
each field), and answered 202: delivery to the analytics service happens later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictFloat

from chassis.web.auth import CALLER_KEY
from chassis.web.openapi import Route
from chassis.web.parsing import json_response, read_json
from chassis.web.problems import invalid
from contracts.usages import PropertyName, PropertyValue
from usages.domain import Kind, NobodyNamed, Who
from usages.service import UsageService

# A record is a few hundred bytes; this leaves room for a stack trace and no more.
RECORD_MAX_BYTES = 16 * 1024

Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*$")]
Properties = Annotated[dict[PropertyName, PropertyValue], Field(max_length=50)]
Text = Annotated[str, Field(min_length=1, max_length=500)]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Made up by the browser and kept by it; required without a bearer token.
    anonymous_id: str | None = Field(
        default=None, min_length=8, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$"
    )


class Measure(Record):
    name: Name
    # Strict: a lax float takes `false` and `"12"` for numbers.
    value: StrictFloat = Field(allow_inf_nan=False)
    unit: str | None = Field(default=None, min_length=1, max_length=20)
    dimensions: Annotated[dict[PropertyName, PropertyValue], Field(max_length=20)] = Field(
        default_factory=dict
    )


class Use(Record):
    event: Name
    properties: Properties = Field(default_factory=dict)


class Crash(Record):
    message: str = Field(min_length=1, max_length=2000)
    type: str = Field(default="Error", min_length=1, max_length=100)
    stack: str | None = Field(default=None, max_length=10_000)
    page: str | None = Field(default=None, min_length=1, max_length=2000)


class Trace(Record):
    level: Literal["debug", "info", "warning", "error"]
    # A message template (`"list {list_id} took {seconds}s"`) and its arguments, apart.
    template: Text
    arguments: Properties = Field(default_factory=dict)


class PageView(Record):
    path: str = Field(min_length=1, max_length=2000, pattern=r"^/")
    title: str | None = Field(default=None, max_length=300)
    referrer: str | None = Field(default=None, max_length=2000)


class Recorded(BaseModel):
    id: str


B = TypeVar("B", bound=Record)
# The event name and properties a body records.
Reading = Callable[[B], tuple[str, dict[str, Any]]]


def _measure(body: Measure) -> tuple[str, dict[str, Any]]:
    return "measurement", {
        **body.dimensions,
        "metric": body.name,
        "value": body.value,
        "unit": body.unit,
    }


def _use(body: Use) -> tuple[str, dict[str, Any]]:
    return body.event, dict(body.properties)


def _crash(body: Crash) -> tuple[str, dict[str, Any]]:
    return "crash", body.model_dump(include={"message", "type", "stack", "page"})


def _trace(body: Trace) -> tuple[str, dict[str, Any]]:
    return "trace", {**body.arguments, "level": body.level, "template": body.template}


def _pageview(body: PageView) -> tuple[str, dict[str, Any]]:
    return "pageview", body.model_dump(include={"path", "title", "referrer"})


def routes(usages: UsageService) -> list[Route]:
    def route(path: str, kind: Kind, model: type[B], read: Reading[B], summary: str) -> Route:
        async def handler(request: web.Request) -> web.Response:
            body = await read_json(request, model, max_bytes=RECORD_MAX_BYTES)
            caller = request.get(CALLER_KEY)
            try:
                who = Who.of(
                    caller.user_id if caller else None,
                    caller.tenant_id if caller else None,
                    body.anonymous_id,
                )
            except NobodyNamed as exc:
                raise invalid([{"field": "anonymous_id", "message": str(exc)}]) from exc
            event, properties = read(body)
            usage = await usages.record(kind, event, who, properties)
            return json_response(Recorded(id=usage.id), 202)

        return Route(
            "POST",
            path,
            handler,
            summary + "; anonymous (with an anonymous_id) or signed in",
            body=model,
            response=Recorded,
            status=202,
            public=True,
        )

    return [
        route("/record/measure", Kind.MEASURE, Measure, _measure, "Record a measurement"),
        route("/record/use", Kind.USE, Use, _use, "Record a use of the product"),
        route("/record/crash", Kind.CRASH, Crash, _crash, "Record a crash of a web page"),
        route("/record/trace", Kind.TRACE, Trace, _trace, "Record a trace"),
        route("/record/pageview", Kind.PAGEVIEW, PageView, _pageview, "Record a page view"),
    ]
