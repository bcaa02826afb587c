"""The API documents through the gateway, with every service running as its own process."""

from __future__ import annotations

from contracts.asyncapi import published_events
from testkit.api import PlatformClient

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
    ("GET", "/audits"),
    ("GET", "/emails"),
    ("POST", "/contact-sales"),
    ("POST", "/record/measure"),
    ("POST", "/record/use"),
    ("POST", "/record/crash"),
    ("POST", "/record/trace"),
    ("POST", "/record/pageview"),
    ("GET", "/health"),
    ("GET", "/health/{service}"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/asyncapi.json"),
    ("GET", "/tenants/{tenant_id}"),
    ("GET", "/flags"),
    ("GET", "/flags/{name}"),
    ("POST", "/credentials/register"),
    ("POST", "/credentials/confirm-registration"),
    ("POST", "/credentials/auth"),
    ("POST", "/credentials/reset"),
    ("POST", "/credentials/reset/verify"),
    ("POST", "/credentials/reset/complete"),
    ("POST", "/tokens/refresh"),
    ("POST", "/tokens/revoke"),
    ("GET", "/.well-known/jwks.json"),
    ("POST", "/signing-keys/rotate"),
    ("GET", "/users/me"),
    ("PUT", "/users/me/default-organization"),
    ("POST", "/users/{user_id}/roles/assign"),
    ("POST", "/users/{user_id}/roles/unassign"),
    ("POST", "/organizations"),
    ("GET", "/organizations/{organization_id}"),
    ("POST", "/organizations/{organization_id}/members"),
    ("GET", "/organizations/{organization_id}/members"),
    ("POST", "/organizations/signup"),
    ("POST", "/tokens/exchange"),
    ("POST", "/apikeys"),
    ("GET", "/apikeys"),
    ("DELETE", "/apikeys/{key_id}"),
    ("POST", "/apikeys/{key_id}/regenerate"),
    ("POST", "/machines/register"),
    ("POST", "/invitations"),
    ("POST", "/invitations/{invitation_id}/resend"),
    ("POST", "/invitations/verify"),
    ("POST", "/sso/auth"),
    ("GET", "/sso/providers"),
    ("GET", "/confirm-registration"),
    ("POST", "/confirm-registration"),
    ("GET", "/reset-password"),
    ("POST", "/reset-password"),
    ("GET", "/accept-invitation"),
    ("POST", "/accept-invitation"),
    ("POST", "/images"),
    ("GET", "/images/{image_id}"),
    ("PATCH", "/images/{image_id}"),
    ("DELETE", "/images/{image_id}"),
    ("GET", "/images/{image_id}/download"),
    ("GET", "/profiles/me"),
    ("GET", "/profiles/{user_id}"),
    ("PATCH", "/profiles/{user_id}"),
    ("PATCH", "/profiles/{user_id}/contact"),
    ("PUT", "/profiles/{user_id}/avatar"),
    ("DELETE", "/profiles/{user_id}/avatar"),
}


async def test_the_documents_describe_the_running_system(anonymous: PlatformClient) -> None:
    openapi = (await anonymous.expect(200, "GET", "/openapi.json")).json()
    assert "x-unavailable" not in openapi
    documented = {(m.upper(), path) for path, item in openapi["paths"].items() for m in item}
    assert documented == ROUTES

    docs = await anonymous.expect(200, "GET", "/docs")
    assert "/cars/{car_id}/unavailabilities" in docs.body.decode()

    channels = (await anonymous.expect(200, "GET", "/asyncapi.json")).json()["channels"]
    assert {event.event_type for event in published_events()} <= set(channels)
