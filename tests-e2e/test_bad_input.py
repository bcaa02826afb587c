"""Bad input through the gateway: each a clear 4xx problem, and nothing stored."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from testkit.clock import hours_from_now
from testkit.tokens import DevSigningKey, unsigned_token


async def problem(resp: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body: dict[str, Any] = await resp.json(content_type=None)
    assert body["status"] == status and body["title"]
    return body


async def test_malformed_and_mistyped_bodies(
    http: aiohttp.ClientSession, gateway: str, headers: dict[str, str]
) -> None:
    async with http.post(
        f"{gateway}/cars",
        data=b'{"make": "VW",',
        headers={**headers, "Content-Type": "application/json"},
    ) as resp:
        await problem(resp, 400)
    car = {
        "make": "VW",
        "model": "Golf",
        "year": "new",
        "jurisdiction": "NZ",
        "number_plate": "BAD1",
    }
    async with http.post(f"{gateway}/cars", json=car, headers=headers) as resp:
        body = await problem(resp, 422)
        assert body["errors"][0]["field"] == "year"
    async with http.get(f"{gateway}/cars", headers=headers) as resp:
        assert await resp.json() == []


async def test_unknown_car_and_backwards_frames(
    http: aiohttp.ClientSession, gateway: str, headers: dict[str, str]
) -> None:
    unknown = {"car_id": "c0ffee", "start_utc": hours_from_now(1), "end_utc": hours_from_now(2)}
    async with http.post(f"{gateway}/bookings", json=unknown, headers=headers) as resp:
        await problem(resp, 422)
    async with http.get(f"{gateway}/cars/c0ffee", headers=headers) as resp:
        await problem(resp, 404)
    backwards = {**unknown, "start_utc": hours_from_now(3)}
    async with http.post(f"{gateway}/bookings", json=backwards, headers=headers) as resp:
        await problem(resp, 422)
    window = {"from_utc": hours_from_now(3), "to_utc": hours_from_now(1)}
    async with http.get(f"{gateway}/cars/available", params=window, headers=headers) as resp:
        await problem(resp, 422)
    everything = {"from_utc": hours_from_now(-48), "to_utc": hours_from_now(48)}
    async with http.get(f"{gateway}/bookings", params=everything, headers=headers) as resp:
        assert await resp.json() == []


@pytest.mark.parametrize(
    "kind", ["missing", "tampered", "expired", "alg_none", "foreign_key", "not_bearer"]
)
async def test_bad_tokens(
    http: aiohttp.ClientSession,
    gateway: str,
    token: Callable[..., str],
    kind: str,
    tenant: str,
    headers: dict[str, str],
) -> None:
    valid = token(tenant_id=tenant)
    header = {
        "missing": None,
        "tampered": f"Bearer {valid[:-6]}AAAAAA",
        "expired": f"Bearer {token(tenant_id=tenant, expires_in=-timedelta(minutes=5))}",
        "alg_none": "Bearer "
        + unsigned_token(
            {
                "sub": "x",
                "tenant_id": tenant,
                "iss": "platform-identity",
                "aud": "platform",
                "exp": int(time.time()) + 600,
                "roles": ["standard"],
            }
        ),
        "foreign_key": f"Bearer {DevSigningKey.generate().mint(tenant_id=tenant)}",
        "not_bearer": f"Basic {valid}",
    }[kind]
    sent = {"Authorization": header} if header else {}
    car = {
        "make": "VW",
        "model": "Golf",
        "year": 2020,
        "jurisdiction": "NZ",
        "number_plate": "TOK1",
    }
    async with http.post(f"{gateway}/cars", json=car, headers=sent) as resp:
        body = await problem(resp, 401)
        assert body["detail"]
        assert "WWW-Authenticate" in resp.headers
    async with http.get(f"{gateway}/cars", headers=headers) as resp:
        assert await resp.json() == [], "nothing was stored"
