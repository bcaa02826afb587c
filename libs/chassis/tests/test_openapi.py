"""OpenAPI documents built from the same `Route` records the app registers."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import jsonschema
from aiohttp import web
from openapi_spec_validator import validate
from pydantic import AwareDatetime, BaseModel, Field
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from chassis.web.openapi import Route, openapi_document
from chassis.web.parsing import Page, TimeFrameFields, json_response
from chassis.web.problems import PROBLEM_CONTENT_TYPE, Problem


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class NewThing(BaseModel):
    name: str
    colour: Colour


class ThingOut(BaseModel):
    id: str
    name: str
    colour: Colour


class Picture(BaseModel):
    caption: str = Field(min_length=1)
    file: bytes


class Search(Page):
    colour: Colour
    name: str | None = None


async def handler(_: web.Request) -> web.Response:
    return json_response({})


ROUTES = [
    Route("POST", "/things", handler, "Make a thing", body=NewThing, response=ThingOut, status=201),
    Route("GET", "/things", handler, "Find things", query=Search, response=list[ThingOut]),
    Route("GET", "/things/{thing_id}", handler, "One thing", response=ThingOut, errors=(404,)),
    Route("DELETE", "/things/{thing_id:[a-z0-9]{2,8}}", handler, "Delete", status=204),
    Route("GET", "/page", handler, "A page", response=str, media_type="text/html", public=True),
    Route("PUT", "/things/{thing_id}/picture", handler, "Picture", form=Picture, status=204),
]


def document() -> dict[str, Any]:
    return openapi_document("things", ROUTES)


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] == "things"


def test_every_route_is_an_operation_with_its_method() -> None:
    paths = document()["paths"]
    operations = {(m.upper(), p) for p, item in paths.items() for m in item}
    assert operations == {
        ("POST", "/things"),
        ("GET", "/things"),
        ("GET", "/things/{thing_id}"),
        ("DELETE", "/things/{thing_id}"),
        ("GET", "/page"),
        ("PUT", "/things/{thing_id}/picture"),
    }
    ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(set(ids)) == len(ids)


def test_bodies_and_responses_refer_to_shared_schemas() -> None:
    doc = document()
    post = doc["paths"]["/things"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewThing"
    }
    created = post["responses"]["201"]["content"]["application/json"]["schema"]
    assert created == {"$ref": "#/components/schemas/ThingOut"}
    listed = doc["paths"]["/things"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listed["schema"] == {"type": "array", "items": {"$ref": "#/components/schemas/ThingOut"}}
    page = doc["paths"]["/page"]["get"]["responses"]["200"]["content"]
    assert page == {"text/html": {"schema": {"type": "string"}}}
    assert doc["paths"]["/things/{thing_id}"]["delete"]["responses"]["204"] == {
        "description": "No Content"
    }
    assert set(doc["components"]["schemas"]) == {
        "Colour",
        "FieldError",
        "NewThing",
        "Picture",
        "ProblemDetails",
        "ThingOut",
    }


def test_a_form_is_a_multipart_body_whose_bytes_are_a_file() -> None:
    doc = document()
    put = doc["paths"]["/things/{thing_id}/picture"]["put"]
    assert put["requestBody"] == {
        "required": True,
        "content": {"multipart/form-data": {"schema": {"$ref": "#/components/schemas/Picture"}}},
    }
    picture = doc["components"]["schemas"]["Picture"]
    assert picture["properties"]["file"] == {"type": "string", "format": "binary", "title": "File"}
    assert set(picture["required"]) == {"caption", "file"}
    assert {"400", "413", "415", "422"} <= set(put["responses"])


def test_path_and_query_parameters() -> None:
    paths = document()["paths"]
    [thing_id] = paths["/things/{thing_id}"]["get"]["parameters"]
    assert thing_id == {
        "name": "thing_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    [constrained] = paths["/things/{thing_id}"]["delete"]["parameters"]
    assert constrained["schema"] == {"type": "string", "pattern": "^(?:[a-z0-9]{2,8})$"}
    query = {p["name"]: p for p in paths["/things"]["get"]["parameters"]}
    assert set(query) == {"limit", "offset", "colour", "name"}
    assert all(p["in"] == "query" for p in query.values())
    assert query["colour"]["required"] and not query["limit"]["required"]
    assert query["colour"]["schema"] == {"$ref": "#/components/schemas/Colour"}
    assert query["limit"]["schema"]["maximum"] == 500


def test_error_statuses_are_problems_including_those_the_chassis_answers() -> None:
    paths = document()["paths"]

    def errors(path: str, method: str) -> list[str]:
        responses = paths[path][method]["responses"]
        problem = {
            PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
        }
        found = [s for s, r in responses.items() if s.startswith(("4", "5"))]
        assert all(responses[s]["content"] == problem for s in found)
        return found

    assert errors("/things", "post") == ["400", "401", "413", "415", "422", "431"]
    assert errors("/things", "get") == ["401", "422", "431"]
    assert errors("/things/{thing_id}", "get") == ["401", "404", "431"]
    # A public route still verifies a token that is sent.
    assert errors("/page", "get") == ["401", "431"]
    unauthorized = paths["/things"]["get"]["responses"]["401"]
    assert unauthorized["headers"]["WWW-Authenticate"]["required"] is True


def test_statuses_an_app_answers_on_every_route_and_answers_sharing_the_success_body() -> None:
    health = Route("GET", "/health", handler, "Health", response=ThingOut, other_statuses=(503,))
    doc = openapi_document("things", [*ROUTES, health], statuses=(429,))
    validate(doc)
    for item in doc["paths"].values():
        for operation in item.values():
            too_many = operation["responses"]["429"]
            assert too_many["headers"]["Retry-After"]["required"] is True
            assert PROBLEM_CONTENT_TYPE in too_many["content"]
    responses = doc["paths"]["/health"]["get"]["responses"]
    assert responses["503"]["content"] == responses["200"]["content"]
    assert responses["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ThingOut"
    }


def test_bounds_and_the_frame_rule_are_written_in_the_schema() -> None:
    class Window(TimeFrameFields, Page):
        pass

    class Trip(TimeFrameFields):
        from_utc: AwareDatetime = Field(alias="start_utc")
        to_utc: AwareDatetime = Field(alias="end_utc")

    doc = openapi_document(
        "frames",
        [
            Route("GET", "/window", handler, "In a window", query=Window),
            Route("POST", "/trips", handler, "A trip", body=Trip),
        ],
    )
    validate(doc)
    query = {p["name"]: p["schema"] for p in doc["paths"]["/window"]["get"]["parameters"]}
    assert query["offset"]["maximum"] == 10_000 and query["limit"]["maximum"] == 500
    assert "before `to_utc`" in query["from_utc"]["description"]
    trip = doc["components"]["schemas"]["Trip"]
    assert trip["description"] == "`start_utc` is before `end_utc`."
    assert "after `start_utc`" in trip["properties"]["end_utc"]["description"]


def test_routes_need_a_bearer_token_unless_public() -> None:
    doc = document()
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert doc["paths"]["/things"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in doc["paths"]["/page"]["get"]


def test_the_problem_schema_describes_the_problems_answered() -> None:
    doc = document()
    registry = Registry().with_resource("urn:doc", Resource(doc, DRAFT202012))
    validator = jsonschema.Draft202012Validator(
        {"$ref": "urn:doc#/components/schemas/ProblemDetails"}, registry=registry
    )
    invalid = Problem(
        422, "bad", title="Validation failed", errors=[{"field": "x", "message": "m"}]
    )
    for problem in (Problem(404), Problem(409, "taken"), invalid):
        validator.validate(problem.body("/things"))
    assert not validator.is_valid({"title": "no status"})


def test_a_route_registers_as_aiohttp_would_with_head_for_get() -> None:
    app = web.Application()
    app.add_routes([route.definition() for route in ROUTES])
    registered = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource}
    assert ("HEAD", "/things/{thing_id}") in registered
    assert ("DELETE", "/things/{thing_id}") in registered
