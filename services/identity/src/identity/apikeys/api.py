"""HTTP routes of API keys: the caller's own keys, and the exchange of a key for an access
token (the gateway's, for every call made with a key)."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr

from chassis.web.auth import require_caller
from chassis.web.openapi import Route
from chassis.web.parsing import Page, json_response, read_json, read_query
from identity.apikeys.domain import MAX_DESCRIPTION, ApiKey
from identity.apikeys.service import ApiKeyService, IssuedKey

API_KEY = "/apikeys/{key_id:[0-9a-f]{32}}"


class NewApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    # Absent: the key lasts until it is deleted.
    expires_utc: AwareDatetime | None = None


class ApiKeyOut(BaseModel):
    id: str
    description: str | None
    # The key's last characters, to tell keys apart; the key itself is never shown again.
    hint: str
    created_at: datetime
    expires_utc: datetime | None
    regenerated_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id,
            description=key.description,
            hint=key.hint,
            created_at=key.created_at,
            expires_utc=key.expires_at,
            regenerated_at=key.regenerated_at,
        )


class IssuedKeyOut(ApiKeyOut):
    # Shown this once: identity keeps only its digest.
    api_key: str

    @classmethod
    def issued(cls, issued: IssuedKey) -> IssuedKeyOut:
        return cls(**ApiKeyOut.of(issued.key).model_dump(), api_key=issued.secret)


class Exchange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Any string up to the length no key exceeds: a wrong one is 401 like an unknown one.
    api_key: SecretStr = Field(min_length=1, max_length=200)


class Exchanged(BaseModel):
    access_token: str
    expires_utc: datetime


def routes(keys: ApiKeyService) -> list[Route]:
    async def create(request: web.Request) -> web.Response:
        body = await read_json(request, NewApiKey)
        issued = await keys.create(require_caller(request), body.description, body.expires_utc)
        return json_response(
            IssuedKeyOut.issued(issued), 201, headers={"Location": f"/apikeys/{issued.key.id}"}
        )

    async def mine(request: web.Request) -> web.Response:
        page = read_query(request, Page)
        found = await keys.mine(require_caller(request), page.limit, page.offset)
        return json_response([ApiKeyOut.of(k) for k in found])

    async def delete(request: web.Request) -> web.Response:
        await keys.delete(require_caller(request), request.match_info["key_id"])
        return web.Response(status=204)

    async def regenerate(request: web.Request) -> web.Response:
        issued = await keys.regenerate(require_caller(request), request.match_info["key_id"])
        return json_response(IssuedKeyOut.issued(issued))

    async def exchange(request: web.Request) -> web.Response:
        body = await read_json(request, Exchange)
        token = await keys.exchange(body.api_key.get_secret_value())
        return json_response(Exchanged(access_token=token.token, expires_utc=token.expires_at))

    return [
        Route(
            "POST",
            "/apikeys",
            create,
            "Create an API key for the caller; the key is in this answer only",
            body=NewApiKey,
            response=IssuedKeyOut,
            status=201,
        ),
        Route(
            "GET",
            "/apikeys",
            mine,
            "The caller's API keys, without their secrets",
            query=Page,
            response=list[ApiKeyOut],
        ),
        Route(
            "DELETE",
            API_KEY,
            delete,
            "Delete one of the caller's API keys: it is refused from now on",
            status=204,
            errors=(404,),
        ),
        Route(
            "POST",
            API_KEY + "/regenerate",
            regenerate,
            "Replace the secret of one of the caller's API keys (same id, description and "
            "expiry); the new one is in this answer only, the old one is refused from now on",
            response=IssuedKeyOut,
            errors=(404, 410),
        ),
        Route(
            "POST",
            "/tokens/exchange",
            exchange,
            "A short-lived access token for an API key (the gateway's, for calls made with a "
            "key); an unknown, deleted, replaced or expired key is 401",
            body=Exchange,
            response=Exchanged,
            public=True,
        ),
    ]
