"""HTTP routes of the cars service: parse with pydantic, call the use case, answer JSON."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cars.domain import MIN_YEAR, Car, CarSpec, Cause, UnavailabilitySlot
from cars.repository import CarQueries
from cars.service import CarNotFound, CarService
from chassis.web.auth import require_tenant
from chassis.web.openapi import Route
from chassis.web.parsing import Page, TimeFrameFields, json_response, read_json, read_query
from chassis.web.problems import Handler

# A car's id is uuid4 hex, so no other path under /cars (`/cars/available`) reads as one.
CAR = "/cars/{car_id:[0-9a-f]{32}}"


class CarFields(BaseModel):
    """What the schema can say of the domain's rules (`CarSpec.normalised`) it says; the rest
    (a year no later than next year, a name not blank) is a 422 from the domain."""

    make: str = Field(min_length=1, max_length=50)
    model: str = Field(min_length=1, max_length=50)
    year: int = Field(ge=MIN_YEAR)
    jurisdiction: str = Field(pattern=r"^[A-Za-z]{2}$")
    # Letters, digits, spaces and hyphens, starting and ending with a letter or digit; kept
    # upper case, spaces collapsed.
    number_plate: str = Field(
        min_length=1, max_length=15, pattern=r"^ *[A-Za-z0-9](?:[A-Za-z0-9 -]*[A-Za-z0-9])? *$"
    )


class RegisterCar(CarFields):
    model_config = ConfigDict(extra="forbid")


class Frame(TimeFrameFields):
    model_config = ConfigDict(extra="forbid")


class AvailableQuery(Frame, Page):
    pass


class CarOut(CarFields):
    id: str
    registered_at: datetime

    @classmethod
    def of(cls, car: Car) -> CarOut:
        return cls(id=car.id, registered_at=car.registered_at, **asdict(car.spec))


class SlotOut(BaseModel):
    id: str
    car_id: str
    from_utc: datetime
    to_utc: datetime
    cause: Cause
    booking_id: str | None

    @classmethod
    def of(cls, slot: UnavailabilitySlot) -> SlotOut:
        return cls(
            id=slot.id,
            car_id=slot.car_id,
            from_utc=slot.frame.start,
            to_utc=slot.frame.end,
            cause=slot.cause,
            booking_id=slot.booking_id,
        )


def routes(cars: CarService, queries: CarQueries) -> list[Route]:
    async def register(request: web.Request) -> web.Response:
        caller, tenant = require_tenant(request)
        body = await read_json(request, RegisterCar)
        car = await cars.register(tenant, caller.user_id, CarSpec(**body.model_dump()))
        return json_response(CarOut.of(car), 201, headers={"Location": f"/cars/{car.id}"})

    async def list_cars(request: web.Request) -> web.Response:
        _, tenant = require_tenant(request)
        page = read_query(request, Page)
        found = await queries.cars(tenant, page.limit, page.offset)
        return json_response([CarOut.of(c) for c in found])

    async def available(request: web.Request) -> web.Response:
        _, tenant = require_tenant(request)
        query = read_query(request, AvailableQuery)
        found = await queries.available(tenant, query.frame, query.limit, query.offset)
        return json_response([CarOut.of(c) for c in found])

    async def existing(request: web.Request, tenant: str) -> Car:
        car_id = request.match_info["car_id"]
        car = await queries.car(tenant, car_id)
        if car is None:
            raise CarNotFound(f"there is no car {car_id}")
        return car

    async def inspect(request: web.Request) -> web.Response:
        _, tenant = require_tenant(request)
        return json_response(CarOut.of(await existing(request, tenant)))

    async def delete(request: web.Request) -> web.Response:
        caller, tenant = require_tenant(request)
        await cars.delete(tenant, caller.user_id, request.match_info["car_id"])
        return web.Response(status=204)

    def out_of_use(cause: Cause) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            caller, tenant = require_tenant(request)
            body = await read_json(request, Frame)
            slot = await cars.take_out_of_use(
                tenant, caller.user_id, request.match_info["car_id"], body.frame, cause
            )
            return json_response(SlotOut.of(slot))

        return handler

    async def unavailabilities(request: web.Request) -> web.Response:
        _, tenant = require_tenant(request)
        page = read_query(request, Page)
        car = await existing(request, tenant)
        slots = await queries.slots(tenant, car.id, page.limit, page.offset)
        return json_response([SlotOut.of(s) for s in slots])

    return [
        Route(
            "POST",
            "/cars",
            register,
            "Register a car; its number plate is unique in its jurisdiction",
            body=RegisterCar,
            response=CarOut,
            status=201,
            errors=(403, 409),
        ),
        Route(
            "GET",
            "/cars",
            list_cars,
            "The tenant's cars",
            query=Page,
            response=list[CarOut],
            errors=(403,),
        ),
        Route(
            "GET",
            "/cars/available",
            available,
            "Cars with no unavailability overlapping the time frame",
            query=AvailableQuery,
            response=list[CarOut],
            errors=(403,),
        ),
        Route(
            "GET",
            CAR,
            inspect,
            "One car",
            response=CarOut,
            errors=(403, 404),
        ),
        Route(
            "DELETE",
            CAR,
            delete,
            "Delete a car that has no reservations still to end",
            status=204,
            errors=(403, 404, 409),
        ),
        Route(
            "PUT",
            CAR + "/maintain",
            out_of_use(Cause.MAINTENANCE),
            "Schedule maintenance; the frame must not overlap another slot",
            body=Frame,
            response=SlotOut,
            errors=(403, 404, 409),
        ),
        Route(
            "PUT",
            CAR + "/offline",
            out_of_use(Cause.OFFLINE),
            "Take the car offline; the frame must not overlap another slot",
            body=Frame,
            response=SlotOut,
            errors=(403, 404, 409),
        ),
        Route(
            "GET",
            CAR + "/unavailabilities",
            unavailabilities,
            "The car's unavailability slots and their causes",
            query=Page,
            response=list[SlotOut],
            errors=(403, 404),
        ),
    ]
