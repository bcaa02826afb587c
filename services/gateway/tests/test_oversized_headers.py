"""Header fields over aiohttp's limits stop at the gateway with a 431 problem."""

from __future__ import annotations

import aiohttp
import pytest

OVERSIZED = "x" * 9000


@pytest.mark.parametrize(
    "headers",
    [{"X-Big": OVERSIZED}, {"Authorization": f"Bearer {OVERSIZED}"}],
    ids=["long field", "long token"],
)
async def test_header_fields_too_large_are_a_431_problem(
    gateway: str, http: aiohttp.ClientSession, cars, headers: dict[str, str]
) -> None:
    async with http.get(f"{gateway}/cars/echo", headers=headers) as r:
        assert r.status == 431, await r.text()
        assert r.content_type == "application/problem+json"
        body = await r.json(content_type=None)
        assert (body["status"], body["title"]) == (431, "Request Header Fields Too Large")
    assert cars.hits == 0
