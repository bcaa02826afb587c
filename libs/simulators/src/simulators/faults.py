"""Failures a simulator is told to answer for a while, as the real system fails now and then:
`POST /_simulator/fail {"status": 503, "times": 3}` makes its next three requests answer 503,
in the order told."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError


class FaultRequest(BaseModel):
    status: int = Field(ge=400, le=599)
    times: int = Field(default=1, ge=1)


@dataclass
class Faults:
    # [status, requests still to answer with it], oldest first.
    _pending: list[list[int]] = field(default_factory=list)

    def take(self) -> int | None:
        """The status this request must answer with, or None to answer as usual."""
        if not self._pending:
            return None
        fault = self._pending[0]
        fault[1] -= 1
        if fault[1] <= 0:
            self._pending.pop(0)
        return fault[0]

    def clear(self) -> None:
        self._pending.clear()

    async def told(self, request: web.Request) -> web.Response:
        """`POST /_simulator/fail`."""
        try:
            fault = FaultRequest.model_validate_json(await request.read())
        except ValidationError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        self._pending.append([fault.status, fault.times])
        return web.Response(status=204)
