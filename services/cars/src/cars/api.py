"""HTTP routes of the cars service: parse with pydantic, call the service, answer JSON."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cars.domain import Car, Cause, TimeFrame, UnavailabilitySlot
from cars.service import CarService
from chassis.auth import require_tenant
from chassis.http import Handler, Page, TimeWindow, json_response, read_json, read_query
from chassis.openapi import Route


class RegisterCar(BaseModel):
    model_config = ConfigDict(extra="forbid")

    make: str = Field(min_length=1, max_length=50)
    model: str = Field(min_length=1, max_length=50)
    year: int
    jurisdiction: str = Field(min_length=2, max_length=2)
    number_plate: str = Field(min_length=1, max_length=15)


class Frame(TimeWindow):
    model_config = ConfigDict(extra="forbid")

    def frame(self) -> TimeFrame:
        return TimeFrame.of(self.from_utc, self.to_utc)


class AvailableQuery(Frame, Page):
    pass


class CarOut(BaseModel):
    id: str
    make: str
    model: str
    year: int
    jurisdiction: str
    number_plate: str
    registered_at: datetime

    @classmethod
    def of(cls, car: Car) -> CarOut:
        s = car.spec
        return cls(
            id=car.id,
            make=s.make,
            model=s.model,
            year=s.year,
            jurisdiction=s.jurisdiction,
            number_plate=s.number_plate,
            registered_at=car.registered_at,
        )


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


def routes(cars: CarService) -> list[Route]:
    async def register(request: web.Request) -> web.Response:
        caller, tenant = require_tenant(request)
        body = await read_json(request, RegisterCar)
        car = await cars.register(tenant, caller.user_id, **body.model_dump())
        return json_response(CarOut.of(car), 201, headers={"Location": f"/cars/{car.id}"})

    async def list_cars(request: web.Request) -> web.Response:
        _, tenant = require_tenant(request)
        page = read_query(request, Page)
        return json_response(
            [CarOut.of(c) for c in await cars.list_all(tenant, page.limit, page.offset)]
        )

    async def available(request: web.Request) -> web.Response:
        _, tenant = require_tenant(request)
        query = read_query(request, AvailableQuery)
        found = await cars.available(tenant, query.frame(), query.limit, query.offset)
        return json_response([CarOut.of(c) for c in found])

    async def inspect(request: web.Request) -> web.Response:
        _, tenant = require_tenant(request)
        return json_response(CarOut.of(await cars.get(tenant, request.match_info["car_id"])))

    async def delete(request: web.Request) -> web.Response:
        caller, tenant = require_tenant(request)
        await cars.delete(tenant, caller.user_id, request.match_info["car_id"])
        return web.Response(status=204)

    def unavailable(cause: Cause) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            caller, tenant = require_tenant(request)
            body = await read_json(request, Frame)
            slot = await cars.make_unavailable(
                tenant, caller.user_id, request.match_info["car_id"], body.frame(), cause
            )
            return json_response(SlotOut.of(slot))

        return handler

    async def unavailabilities(request: web.Request) -> web.Response:
        _, tenant = require_tenant(request)
        page = read_query(request, Page)
        slots = await cars.unavailabilities(
            tenant, request.match_info["car_id"], page.limit, page.offset
        )
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
            "/cars/{car_id}",
            inspect,
            "One car",
            response=CarOut,
            errors=(403, 404),
        ),
        Route(
            "DELETE",
            "/cars/{car_id}",
            delete,
            "Delete a car that has no reservations still to end",
            status=204,
            errors=(403, 404, 409),
        ),
        Route(
            "PUT",
            "/cars/{car_id}/maintain",
            unavailable(Cause.MAINTENANCE),
            "Schedule maintenance; the frame must not overlap another slot",
            body=Frame,
            response=SlotOut,
            errors=(403, 404, 409),
        ),
        Route(
            "PUT",
            "/cars/{car_id}/offline",
            unavailable(Cause.OFFLINE),
            "Take the car offline; the frame must not overlap another slot",
            body=Frame,
            response=SlotOut,
            errors=(403, 404, 409),
        ),
        Route(
            "GET",
            "/cars/{car_id}/unavailabilities",
            unavailabilities,
            "The car's unavailability slots and their causes",
            query=Page,
            response=list[SlotOut],
            errors=(403, 404),
        ),
    ]
