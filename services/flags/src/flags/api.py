"""HTTP routes of the flags service: every flag, or one, decided for the caller; operators may
ask for another user."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chassis.errors import NotFound
from chassis.web.auth import require_caller
from chassis.web.openapi import Route
from chassis.web.parsing import json_response, read_query
from chassis.web.problems import Problem
from flags.domain import Decision, Flag, Reason


class UnknownFlag(NotFound):
    pass


class FlagOut(BaseModel):
    name: str
    enabled: bool
    reason: Reason

    @classmethod
    def of(cls, decision: Decision) -> FlagOut:
        return cls(name=decision.name, enabled=decision.enabled, reason=decision.reason)


class ForUser(BaseModel):
    """Operators only: decide for this user (of this tenant; the operator's own by default)."""

    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(default=None, min_length=1, max_length=200)
    tenant_id: str | None = Field(default=None, min_length=1, max_length=200)


def routes(flags: Mapping[str, Flag]) -> list[Route]:
    ordered = [flags[name] for name in sorted(flags)]

    async def every(request: web.Request) -> web.Response:
        caller = require_caller(request)
        return json_response(
            [FlagOut.of(f.decide(caller.user_id, caller.tenant_id)) for f in ordered]
        )

    async def one(request: web.Request) -> web.Response:
        caller = require_caller(request)
        query = read_query(request, ForUser)
        user_id, tenant_id = caller.user_id, caller.tenant_id
        if query.user_id is not None or query.tenant_id is not None:
            if not caller.is_operator:
                raise Problem(403, "Only operators may ask how a flag is decided for another user.")
            user_id = query.user_id or user_id
            tenant_id = query.tenant_id or tenant_id
        name = request.match_info["name"]
        flag = flags.get(name)
        if flag is None:
            raise UnknownFlag(f"there is no flag {name!r}")
        return json_response(FlagOut.of(flag.decide(user_id, tenant_id)))

    return [
        Route(
            "GET",
            "/flags",
            every,
            "Every flag of this environment, decided for the caller",
            response=list[FlagOut],
        ),
        Route(
            "GET",
            "/flags/{name}",
            one,
            "One flag decided for the caller, or (operators) for `user_id` in `tenant_id`",
            query=ForUser,
            response=FlagOut,
            errors=(403, 404),
        ),
    ]
