"""The Postmark simulator checks what Postmark's email API checks (the token, the message),
keeps what it took, refuses inactive recipients, and fails when told to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from simulators.postmark import DEFAULT_TOKEN, Simulator
from testkit.web import serving

INACTIVE = "bounced@example.com"
MESSAGE = {
    "From": "Platform <no-reply@example.com>",
    "To": '"Doe, Jane" <jane@example.com>, joe@example.com',
    "Subject": "Hello",
    "TextBody": "hi",
    "Tag": "welcome",
    "Headers": [{"Name": "Message-ID", "Value": "<1@example.com>"}],
}
AUTH = {"X-Postmark-Server-Token": DEFAULT_TOKEN, "Accept": "application/json"}


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with serving(Simulator(frozenset([DEFAULT_TOKEN]), frozenset([INACTIVE])).app()) as url:
        yield url


async def send(url: str, body: Any, headers: dict[str, str] = AUTH) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/email", json=body, headers=headers) as response,
    ):
        return response.status, await response.json()


async def held(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/_simulator/emails") as r:
        answer: dict[str, Any] = await r.json()
        return answer


async def test_a_valid_message_is_accepted_and_kept(url: str) -> None:
    status, answer = await send(url, MESSAGE)
    assert status == 200
    assert (answer["ErrorCode"], answer["Message"], answer["To"]) == (0, "OK", MESSAGE["To"])
    [kept] = (await held(url))["emails"]
    assert kept["MessageID"] == answer["MessageID"]
    assert kept["SubmittedAt"] == answer["SubmittedAt"]
    assert kept["MessageStream"] == "outbound"
    assert {k: kept[k] for k in MESSAGE} == MESSAGE


@pytest.mark.parametrize("headers", [{}, {"X-Postmark-Server-Token": "wrong"}])
async def test_a_missing_or_unknown_token_is_401(url: str, headers: dict[str, str]) -> None:
    status, answer = await send(url, MESSAGE, headers)
    assert (status, answer["ErrorCode"]) == (401, 10)
    assert (await held(url)) == {"requests": 1, "emails": []}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"To": None}, "To"),
        ({"From": "no-reply@localhost"}, "Illegal email address"),
        ({"To": "jane at example.com"}, "Illegal email address"),
        ({"TextBody": None}, "TextBody or HtmlBody"),
        ({"To": ", ".join(f"p{i}@example.com" for i in range(51))}, "50 recipients"),
        ({"Headers": [{"Value": "x"}]}, "Name"),
    ],
)
async def test_an_invalid_message_is_422_error_code_300(
    url: str, change: dict[str, Any], reason: str
) -> None:
    body = {k: v for k, v in {**MESSAGE, **change}.items() if v is not None}
    status, answer = await send(url, body)
    assert (status, answer["ErrorCode"]) == (422, 300)
    assert reason in answer["Message"]
    assert (await held(url))["emails"] == []


async def test_a_body_not_sent_as_json_is_refused(url: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/email", data=b"{", headers=AUTH) as r1,
        http.post(
            f"{url}/email", data=b"{", headers={**AUTH, "Content-Type": "application/json"}
        ) as r2,
    ):
        assert (r1.status, (await r1.json())["ErrorCode"]) == (422, 409)
        assert (r2.status, (await r2.json())["ErrorCode"]) == (422, 402)


async def test_an_unknown_message_stream_is_refused(url: str) -> None:
    status, answer = await send(url, {**MESSAGE, "MessageStream": "broadcasts"})
    assert (status, answer["ErrorCode"]) == (422, 1235)


async def test_an_inactive_recipient_is_422_error_code_406(url: str) -> None:
    status, answer = await send(url, {**MESSAGE, "To": f"a@example.com, {INACTIVE.upper()}"})
    assert (status, answer["ErrorCode"]) == (422, 406)
    assert INACTIVE.upper() in answer["Message"]
    assert (await held(url))["emails"] == []


async def test_it_fails_as_told_then_accepts_again(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/_simulator/fail", json={"status": 429, "times": 2}) as r:
            assert r.status == 204
        async with http.post(f"{url}/_simulator/fail", json={"status": 200}) as r:
            assert r.status == 400
    assert [(await send(url, MESSAGE))[0] for _ in range(3)] == [429, 429, 200]
    assert (await held(url))["requests"] == 3
    async with aiohttp.ClientSession() as http, http.delete(f"{url}/_simulator/emails") as r:
        assert r.status == 204
    assert await held(url) == {"requests": 0, "emails": []}
