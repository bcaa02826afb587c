"""HTTP route of machines: register one, anonymously or as a signed-in user."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from chassis.web.auth import CALLER_KEY
from chassis.web.openapi import Route
from chassis.web.parsing import json_response, read_json
from identity.machines.service import MachineService

# A machine's name is kept where a person's first name is, and bounded as it is.
MAX_NAME = 100


class NewMachine(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=MAX_NAME)


class MachineOut(BaseModel):
    id: str
    name: str
    organization_id: str
    api_key_id: str
    # Shown this once: identity keeps only its digest.
    api_key: str


def routes(machines: MachineService) -> list[Route]:
    async def register(request: web.Request) -> web.Response:
        body = await read_json(request, NewMachine)
        machine = await machines.register(body.name, request.get(CALLER_KEY))
        return json_response(
            MachineOut(
                id=machine.user.id,
                name=machine.user.display_name,
                organization_id=machine.user.default_organization_id,
                api_key_id=machine.key.id,
                api_key=machine.api_key,
            ),
            201,
        )

    return [
        Route(
            "POST",
            "/machines/register",
            register,
            "Register a machine with an API key (shown in this answer only). Signed in, the "
            "caller's organization gains it as a member; anonymously, it gets an organization "
            "of its own",
            body=NewMachine,
            response=MachineOut,
            status=201,
            errors=(403,),
            public=True,
        ),
    ]
