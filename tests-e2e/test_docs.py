"""The API documents through the gateway, with every service running as its own process."""

from __future__ import annotations

import aiohttp

from contracts.asyncapi import domain_events

ROUTES = {
    ("POST", "/cars"),
    ("GET", "/cars"),
    ("GET", "/cars/available"),
    ("GET", "/cars/{car_id}"),
    ("DELETE", "/cars/{car_id}"),
    ("PUT", "/cars/{car_id}/maintain"),
    ("PUT", "/cars/{car_id}/offline"),
    ("GET", "/cars/{car_id}/unavailabilities"),
    ("POST", "/bookings"),
    ("DELETE", "/bookings/{booking_id}"),
    ("GET", "/bookings"),
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/asyncapi.json"),
}


async def test_the_documents_describe_the_running_system(
    http: aiohttp.ClientSession, gateway: str
) -> None:
    async with http.get(f"{gateway}/openapi.json") as resp:
        assert resp.status == 200
        openapi = await resp.json()
    assert "x-unavailable" not in openapi
    documented = {(m.upper(), path) for path, item in openapi["paths"].items() for m in item}
    assert documented == ROUTES

    async with http.get(f"{gateway}/docs") as resp:
        assert resp.status == 200
        assert "/cars/{car_id}/unavailabilities" in await resp.text()

    async with http.get(f"{gateway}/asyncapi.json") as resp:
        assert resp.status == 200
        channels = (await resp.json())["channels"]
    assert {event.event_type for event in domain_events()} <= set(channels)
