"""HTTP plumbing: problem+json errors, body and query validation, auth, request ids."""

from __future__ import annotations

import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel, Field

from chassis.logging import current_ids
from chassis.web.auth import JwksVerifier, auth_middleware, require_caller, require_tenant
from chassis.web.context import context_middleware
from chassis.web.parsing import Page, json_response, read_json, read_query
from chassis.web.problems import PROBLEM_CONTENT_TYPE, Problem, problem_middleware
from testkit.tokens import AUDIENCE, ISSUER

HEX_ID = re.compile(r"^[0-9a-f]{32}$")


class NewCar(BaseModel):
    make: str
    year: int = Field(ge=1900)
    seats: int = 4


async def create_car(request: web.Request) -> web.Response:
    car = await read_json(request, NewCar)
    return json_response(car, 201)


class Note(BaseModel):
    text: str


async def create_note(request: web.Request) -> web.Response:
    return json_response(await read_json(request, Note, max_bytes=64), 201)


async def list_cars(request: web.Request) -> web.Response:
    page = read_query(request, Page)
    return json_response(page)


async def me(request: web.Request) -> web.Response:
    caller = require_caller(request)
    return json_response(
        {"user_id": caller.user_id, "tenant_id": caller.tenant_id, "roles": sorted(caller.roles)}
    )


async def tenant_data(request: web.Request) -> web.Response:
    _, tenant = require_tenant(request)
    return json_response({"tenant": tenant})


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("database password is hunter2")


async def conflict(request: web.Request) -> web.Response:
    raise Problem(409, "The car is booked then.", headers={"Retry-After": "5"})


async def ids(request: web.Request) -> web.Response:
    request_id, correlation_id = current_ids()
    return json_response({"request_id": request_id, "correlation_id": correlation_id})


@pytest.fixture
async def client(signing_key, tmp_path):
    # Trusting the test key: the tokens here are made to test what the middleware lets through.
    jwks_url = signing_key.write_jwks(tmp_path / "jwks.json").as_uri()
    verifier = JwksVerifier(jwks_url, issuer=ISSUER, audience=AUDIENCE)
    app = web.Application(
        middlewares=[context_middleware, problem_middleware, auth_middleware(verifier)]
    )
    app.add_routes(
        [
            web.post("/cars", create_car),
            web.post("/notes", create_note),
            web.get("/cars", list_cars),
            web.get("/me", me),
            web.get("/tenant", tenant_data),
            web.get("/boom", boom),
            web.get("/conflict", conflict),
            web.get("/ids", ids),
        ]
    )
    async with TestClient(TestServer(app)) as client:
        yield client


async def problem(response, status: int) -> dict:
    assert response.status == status, await response.text()
    assert response.content_type == PROBLEM_CONTENT_TYPE
    body = await response.json(content_type=None)
    assert body["status"] == status
    assert body["title"]
    assert body["type"] == "about:blank"
    return body


async def test_valid_body_is_parsed(client):
    response = await client.post("/cars", json={"make": "Fiat", "year": 2020})
    assert response.status == 201
    assert await response.json() == {"make": "Fiat", "year": 2020, "seats": 4}


async def test_malformed_json_is_400(client):
    response = await client.post(
        "/cars", data=b'{"make": "Fiat",', headers={"Content-Type": "application/json"}
    )
    body = await problem(response, 400)
    assert body["title"] == "Malformed JSON"
    assert "not valid JSON" in body["detail"]
    assert body["instance"] == "/cars"


async def test_empty_json_body_is_400(client):
    response = await client.post("/cars", data=b"", headers={"Content-Type": "application/json"})
    await problem(response, 400)


async def test_wrong_types_are_422_with_field_errors(client):
    response = await client.post("/cars", json={"make": 7, "year": "old", "seats": 4})
    body = await problem(response, 422)
    assert body["title"] == "Validation failed"
    assert body["detail"]
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert set(fields) == {"make", "year"}
    assert all(isinstance(m, str) and m for m in fields.values())


async def test_json_that_is_not_an_object_is_422(client):
    response = await client.post("/cars", json=[1, 2])
    body = await problem(response, 422)
    assert body["errors"][0]["field"] == "body"


async def test_invalid_query_is_422_naming_the_parameter(client):
    assert (await client.get("/cars?limit=10&offset=5")).status == 200
    response = await client.get("/cars?limit=0&offset=x")
    body = await problem(response, 422)
    assert {e["field"] for e in body["errors"]} == {"limit", "offset"}


async def test_paging_is_bounded(client):
    assert (await client.get("/cars?limit=500&offset=10000")).status == 200
    for query, field in [("offset=9223372036854775808", "offset"), ("limit=501", "limit")]:
        body = await problem(await client.get(f"/cars?{query}"), 422)
        assert [e["field"] for e in body["errors"]] == [field]


async def test_a_body_over_the_apps_limit_is_a_413_problem(client):
    response = await client.post(
        "/cars", data=b" " * (1024**2 + 1), headers={"Content-Type": "application/json"}
    )
    await problem(response, 413)


async def test_a_body_over_the_routes_own_limit_is_413_before_it_is_parsed(client):
    at_limit = b'{"text": "' + b"x" * 52 + b'"}'
    assert len(at_limit) == 64
    json_type = {"Content-Type": "application/json"}
    assert (await client.post("/notes", data=at_limit, headers=json_type)).status == 201
    # One byte over; and not even JSON: refused by size, not parsed.
    await problem(await client.post("/notes", data=b"{" * 65, headers=json_type), 413)

    async def chunked():  # no Content-Length: counted while reading
        for _ in range(10):
            yield b"x" * 10

    await problem(await client.post("/notes", data=chunked(), headers=json_type), 413)


async def test_wrong_content_type_is_415(client):
    response = await client.post(
        "/cars", data=b"make=Fiat", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    await problem(response, 415)
    response = await client.post("/cars", data=b'{"make": "Fiat", "year": 2020}')
    await problem(response, 415)  # no content type at all


async def test_unknown_route_is_404_problem(client):
    body = await problem(await client.get("/nowhere"), 404)
    assert body["instance"] == "/nowhere"


async def test_wrong_method_is_405_problem_with_allow(client):
    response = await client.delete("/cars")
    await problem(response, 405)
    assert {"GET", "POST"} <= set(response.headers["Allow"].split(","))


async def test_problem_raised_by_a_route_keeps_its_status_and_headers(client):
    response = await client.get("/conflict")
    body = await problem(response, 409)
    assert body["detail"] == "The car is booked then."
    assert response.headers["Retry-After"] == "5"


async def test_unhandled_exception_is_500_without_details(client):
    response = await client.get("/boom")
    body = await problem(response, 500)
    text = await response.text()
    assert body["detail"] == "An unexpected error occurred."
    for leak in ("Traceback", "RuntimeError", "hunter2", "test_http.py"):
        assert leak not in text


async def test_missing_token_on_a_protected_route_is_401(client):
    response = await client.get("/me")
    await problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_invalid_token_is_401_even_where_none_is_needed(client):
    response = await client.get("/cars", headers={"Authorization": "Bearer not.a.token"})
    await problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_other_schemes_are_401(client):
    response = await client.get("/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    await problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_valid_token_reaches_the_route(client, token):
    bearer = {"Authorization": f"Bearer {token(user_id='u1', tenant_id='t1', roles=['a', 'b'])}"}
    response = await client.get("/me", headers=bearer)
    assert response.status == 200
    assert await response.json() == {"user_id": "u1", "tenant_id": "t1", "roles": ["a", "b"]}


async def test_tenant_route_refuses_a_token_without_tenant(client, token):
    bearer = {"Authorization": f"Bearer {token(tenant_id=None)}"}
    await problem(await client.get("/tenant", headers=bearer), 403)
    bearer = {"Authorization": f"Bearer {token(tenant_id='t9')}"}
    assert await (await client.get("/tenant", headers=bearer)).json() == {"tenant": "t9"}


async def test_request_and_correlation_ids_are_echoed(client):
    sent = {"X-Request-Id": "req-123", "X-Correlation-Id": "corr-456"}
    response = await client.get("/ids", headers=sent)
    assert await response.json() == {"request_id": "req-123", "correlation_id": "corr-456"}
    assert response.headers["X-Request-Id"] == "req-123"
    assert response.headers["X-Correlation-Id"] == "corr-456"

    # On error responses too.
    response = await client.get("/nowhere", headers=sent)
    assert response.headers["X-Request-Id"] == "req-123"
    assert response.headers["X-Correlation-Id"] == "corr-456"


async def test_ids_are_generated_when_absent(client):
    first = await client.get("/ids")
    second = await client.get("/boom")
    body = await first.json()
    request_id = first.headers["X-Request-Id"]
    assert HEX_ID.match(request_id)
    assert body == {"request_id": request_id, "correlation_id": request_id}
    assert first.headers["X-Correlation-Id"] == request_id
    assert HEX_ID.match(second.headers["X-Request-Id"])
    assert second.headers["X-Request-Id"] != request_id
