"""A local product-analytics server speaking PostHog's capture API, for tests and `make run`.

Like the real one (https://posthog.com/docs/api/capture) it takes `POST /batch/` with
`{"api_key", "batch": [{event, distinct_id, properties?, timestamp?, uuid?}]}`, and single
events on `POST /capture/` and `POST /i/v0/e/`; a body may be gzipped (Content-Encoding).
An unknown or missing project API key is 401; a body that is not such a payload is 400,
saying why; accepted ones are 200 `{"status": 1}`.

It keeps the last events it accepted (10,000 by default, `--max-events`: it runs as long as
`make run` does), each copy, with the number of the request that brought it (the real API
would dedupe copies by `uuid`; the simulator shows them, so a test can tell). For tests:

- `GET /_simulator/events`: `{"requests": n, "events": [{request, event, distinct_id,
  properties, timestamp, uuid}]}`, n counting the capture requests accepted;
- `POST /_simulator/fail` `{"status": 503, "times": 3}`: the next 3 capture requests are
  answered with that status (no event kept), then it accepts again;
- `POST /_simulator/refuse` `{"event": "bad_event"}`: from then on, a request holding an
  event of that name is refused with 400 naming it, and none of its events kept, as the real
  API refuses a whole batch for one invalid event;
- `DELETE /_simulator/events`: forget what it holds (and what it was told to fail or refuse).

    python -m simulators.analytics --port 8190 [--api-key phc_local_development]
        [--max-events 10000]
"""

from __future__ import annotations

import argparse
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from simulators.faults import Faults

DEFAULT_API_KEY = "phc_local_development"
DEFAULT_PORT = 8190
# The real capture endpoint refuses bodies past 20 MB.
MAX_BODY_BYTES = 20 * 1024 * 1024
# Events held for `GET /_simulator/events`: the newest, so a long `make run` stays bounded.
DEFAULT_MAX_EVENTS = 10_000


def _distinct_id(value: object) -> object:
    # The real API takes a number too, and keeps it as a string.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class Event(BaseModel):
    model_config = ConfigDict(extra="allow")

    event: str = Field(min_length=1, max_length=200)
    distinct_id: Annotated[str, BeforeValidator(_distinct_id), Field(min_length=1, max_length=200)]
    properties: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime | None = None
    uuid: UUID | None = None


class Batch(BaseModel):
    model_config = ConfigDict(extra="allow")

    api_key: str | None = None
    batch: list[Event] = Field(min_length=1)


class Single(Event):
    api_key: str | None = None


@dataclass
class Simulator:
    api_keys: frozenset[str]
    max_events: int = DEFAULT_MAX_EVENTS
    requests: int = 0
    faults: Faults = field(default_factory=Faults)
    refused: set[str] = field(default_factory=set)
    events: deque[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.events = deque(maxlen=self.max_events)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.add_routes(
            [
                web.post("/batch/", self._batch),
                web.post("/batch", self._batch),
                web.post("/capture/", self._single),
                web.post("/capture", self._single),
                web.post("/i/v0/e/", self._single),
                web.post("/i/v0/e", self._single),
                web.get("/_simulator/events", self._show),
                web.delete("/_simulator/events", self._forget),
                web.post("/_simulator/fail", self.faults.told),
                web.post("/_simulator/refuse", self._refuse),
            ]
        )
        return app

    async def _batch(self, request: web.Request) -> web.Response:
        return await self._capture(request, batch=True)

    async def _single(self, request: web.Request) -> web.Response:
        return await self._capture(request, batch=False)

    async def _capture(self, request: web.Request, *, batch: bool) -> web.Response:
        if (status := self.faults.take()) is not None:
            return _error(status, "simulated", f"told to answer {status}")
        try:
            data = _body(await request.read())
        except ValueError as exc:
            return _error(400, "invalid_payload", str(exc))
        # The capture endpoints take a batch in a single event's place too.
        as_batch = batch or (isinstance(data, dict) and "batch" in data)
        try:
            payload = Batch.model_validate(data) if as_batch else Single.model_validate(data)
        except ValidationError as exc:
            return _error(400, "invalid_payload", _reasons(exc))
        events = payload.batch if isinstance(payload, Batch) else [payload]
        key = payload.api_key or next((getattr(e, "api_key", None) for e in events), None)
        if key is None or key not in self.api_keys:
            return _error(401, "invalid_api_key", "Project API key invalid.", "authentication")
        refused = sorted({e.event for e in events} & self.refused)
        if refused:
            return _error(400, "invalid_event", f"event {refused[0]!r} is invalid")
        self.requests += 1
        for event in events:
            kept = event.model_dump(mode="json", include={"event", "distinct_id", "properties"})
            kept["timestamp"] = event.timestamp.isoformat() if event.timestamp else None
            kept["uuid"] = str(event.uuid) if event.uuid else None
            self.events.append({"request": self.requests, **kept})
        return web.json_response({"status": 1})

    async def _show(self, _: web.Request) -> web.Response:
        return web.json_response({"requests": self.requests, "events": list(self.events)})

    async def _forget(self, _: web.Request) -> web.Response:
        self.requests, self.refused = 0, set()
        self.faults.clear()
        self.events.clear()
        return web.Response(status=204)

    async def _refuse(self, request: web.Request) -> web.Response:
        try:
            refusal = RefusalRequest.model_validate_json(await request.read())
        except ValidationError as exc:
            return _error(400, "invalid_payload", _reasons(exc))
        self.refused.add(refusal.event)
        return web.Response(status=204)


class RefusalRequest(BaseModel):
    event: str = Field(min_length=1, max_length=200)


def _body(raw: bytes) -> Any:
    # A gzipped body (Content-Encoding) is inflated by aiohttp as it is read.
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"the body is not JSON: {exc}") from exc


def _reasons(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
        for e in exc.errors(include_url=False)
    )


def _error(status: int, code: str, detail: str, kind: str = "validation") -> web.Response:
    return web.json_response(
        {"type": f"{kind}_error", "code": code, "detail": detail, "attr": None}, status=status
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--api-key", action="append", help=f"a project API key it accepts ({DEFAULT_API_KEY})"
    )
    parser.add_argument(
        "--max-events",
        type=int,
        default=DEFAULT_MAX_EVENTS,
        help=f"how many of the newest events it holds ({DEFAULT_MAX_EVENTS})",
    )
    args = parser.parse_args(argv)
    if args.max_events < 1:
        parser.error("--max-events must be at least 1")
    simulator = Simulator(frozenset(args.api_key or [DEFAULT_API_KEY]), args.max_events)
    web.run_app(simulator.app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
