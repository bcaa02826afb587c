"""HTTP routes of the bookings service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bookings.domain import Booking, Status
from bookings.service import BookingService
from chassis.auth import require_tenant
from chassis.http import Page, TimeWindow, json_response, read_json, read_query
from chassis.openapi import Route


class MakeBooking(BaseModel):
    model_config = ConfigDict(extra="forbid")

    car_id: str = Field(min_length=1, max_length=64)
    start_utc: AwareDatetime
    end_utc: AwareDatetime


class FrameQuery(TimeWindow, Page):
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
    def of(cls, b: Booking, car: dict[str, Any] | None = None) -> BookingOut:
        return cls(
            id=b.id,
            car_id=b.car_id,
            user_id=b.user_id,
            start_utc=b.start,
            end_utc=b.end,
            status=b.status,
            created_at=b.created_at,
            cancelled_at=b.cancelled_at,
            car=CarSummary.model_validate(car) if car else None,
        )


def routes(bookings: BookingService) -> list[Route]:
    async def book(request: web.Request) -> web.Response:
        caller, tenant = require_tenant(request)
        body = await read_json(request, MakeBooking)
        booking = await bookings.book(
            tenant, caller.user_id, body.car_id, body.start_utc, body.end_utc
        )
        cars = await bookings.cars_of(tenant, [booking])
        return json_response(
            BookingOut.of(booking, cars.get(booking.car_id)),
            201,
            headers={"Location": f"/bookings/{booking.id}"},
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
        found, cars = await bookings.in_frame(
            tenant, query.from_utc, query.to_utc, query.limit, query.offset
        )
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
            "/bookings/{booking_id}",
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
