"""HTTP routes of the bookings service."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bookings.domain import Booking, KnownCar, Status
from bookings.repository import BookingQueries
from bookings.service import BookingService
from chassis.web.auth import require_tenant
from chassis.web.openapi import Route
from chassis.web.parsing import Page, TimeFrameFields, json_response, read_json, read_query

# A booking's id is uuid4 hex.
BOOKING = "/bookings/{booking_id:[0-9a-f]{32}}"


class MakeBooking(TimeFrameFields):
    # The frame of a booking is named for when it starts and ends.
    model_config = ConfigDict(extra="forbid")

    car_id: str = Field(min_length=1, max_length=64)
    from_utc: AwareDatetime = Field(alias="start_utc")
    to_utc: AwareDatetime = Field(alias="end_utc")


class FrameQuery(TimeFrameFields, Page):
    pass


class CarSummary(BaseModel):
    make: str
    model: str
    number_plate: str


class BookingOut(BaseModel):
    id: str
    car_id: str
    user_id: str
    start_utc: datetime
    end_utc: datetime
    status: Status
    created_at: datetime
    cancelled_at: datetime | None
    car: CarSummary | None = None

    @classmethod
    def of(cls, b: Booking, car: KnownCar | None) -> BookingOut:
        return cls(
            id=b.id,
            car_id=b.car_id,
            user_id=b.user_id,
            start_utc=b.frame.start,
            end_utc=b.frame.end,
            status=b.status,
            created_at=b.created_at,
            cancelled_at=b.cancelled_at,
            car=CarSummary(make=car.make, model=car.model, number_plate=car.number_plate)
            if car
            else None,
        )


def routes(bookings: BookingService, queries: BookingQueries) -> list[Route]:
    async def book(request: web.Request) -> web.Response:
        caller, tenant = require_tenant(request)
        body = await read_json(request, MakeBooking)
        booked = await bookings.book(tenant, caller.user_id, body.car_id, body.frame)
        return json_response(
            BookingOut.of(booked.booking, booked.car),
            201,
            headers={"Location": f"/bookings/{booked.booking.id}"},
        )

    async def cancel(request: web.Request) -> web.Response:
        caller, tenant = require_tenant(request)
        await bookings.cancel(
            tenant, caller.user_id, caller.roles, request.match_info["booking_id"]
        )
        return web.Response(status=204)

    async def in_frame(request: web.Request) -> web.Response:
        _, tenant = require_tenant(request)
        query = read_query(request, FrameQuery)
        found = await queries.overlapping(tenant, query.frame, query.limit, query.offset)
        cars = await queries.known_cars(tenant, {b.car_id for b in found})
        return json_response([BookingOut.of(b, cars.get(b.car_id)) for b in found])

    return [
        Route(
            "POST",
            "/bookings",
            book,
            "Book a car for 15 minutes to 8 hours; 409 when it is not free, 422 for an unknown car",
            body=MakeBooking,
            response=BookingOut,
            status=201,
            errors=(403, 409, 503),
        ),
        Route(
            "DELETE",
            BOOKING,
            cancel,
            "Cancel a booking before it starts (its booker or `operations`); frees the car",
            status=204,
            errors=(403, 404, 409),
        ),
        Route(
            "GET",
            "/bookings",
            in_frame,
            "The tenant's bookings overlapping the time frame",
            query=FrameQuery,
            response=list[BookingOut],
            errors=(403,),
        ),
    ]
