"""The providers' simulator answers each provider's API in that provider's documented shape:
a person it knows, no match for one it does not, a refusal without the key; the same input
the same answer; and its knobs (latency, errors, throttling, told failures) and call counts
behave as tests rely on. SignalHire's answer arrives at the callback URL."""

from __future__ import annotations

import asyncio
import base64
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from simulators.providers import DEFAULT_API_KEY
from testkit.providers import (
    ProvidersSimulator,
    email_known_to,
    email_unknown_to,
    served_simulator,
)
from testkit.waiting import eventually
from testkit.web import serving

KEY = DEFAULT_API_KEY
WORDS = " ".join(f"word{i}" for i in range(150))


@pytest.fixture
async def providers() -> AsyncIterator[ProvidersSimulator]:
    async with served_simulator() as simulator:
        yield simulator


async def call(method: str, url: str, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
    async with aiohttp.ClientSession() as http, http.request(method, url, **kwargs) as response:
        body = await response.json(content_type=None)
        return response.status, dict(response.headers), body


def fullcontact(sim: ProvidersSimulator, email: str, key: str = KEY) -> Any:
    return call(
        "POST",
        f"{sim.url('fullcontact')}/v3/person.enrich",
        json={"email": email},
        headers={"Authorization": f"Bearer {key}"},
    )


def pipl(sim: ProvidersSimulator, email: str, key: str = KEY) -> Any:
    return call("GET", f"{sim.url('pipl')}/search/", params={"key": key, "email": email})


def pdl(sim: ProvidersSimulator, email: str, key: str = KEY, **params: str) -> Any:
    return call(
        "GET",
        f"{sim.url('pdl')}/v5/person/enrich",
        params={"email": email, **params},
        headers={"X-Api-Key": key},
    )


def v12(sim: ProvidersSimulator, email: str, key: str = KEY) -> Any:
    return call(
        "POST",
        f"{sim.url('v12')}/v1/consumer/append",
        json={"email": email},
        headers={"X-Api-Key": key},
    )


def watson(sim: ProvidersSimulator, text: str, key: str = KEY, **params: str) -> Any:
    basic = base64.b64encode(f"apikey:{key}".encode()).decode()
    return call(
        "POST",
        f"{sim.url('watson')}/v3/profile",
        params={"version": "2017-10-13", **params},
        data=text.encode(),
        headers={"Authorization": f"Basic {basic}", "Content-Type": "text/plain"},
    )


async def test_fullcontact_enriches_a_known_email_and_404s_an_unknown_one(
    providers: ProvidersSimulator,
) -> None:
    known = email_known_to("fullcontact")
    status, _, person = await fullcontact(providers, known.upper())
    assert status == 200
    assert person["fullName"] == " ".join(
        [person["details"]["name"]["given"], person["details"]["name"]["family"]]
    )
    assert person["organization"] and person["title"] and person["location"]
    assert person["linkedin"].startswith("https://www.linkedin.com/in/")
    assert person["details"]["emails"] == [{"label": "work", "value": known}]
    assert person["details"]["employment"][0]["name"] == person["organization"]
    status, _, body = await fullcontact(providers, email_unknown_to("fullcontact"))
    assert (status, body) == (404, {"status": 404, "message": "Profile not found"})
    status, _, body = await fullcontact(providers, "not-an-email")
    assert status == 422


async def test_pipl_answers_a_person_or_none_in_its_shape(providers: ProvidersSimulator) -> None:
    known = email_known_to("pipl")
    status, _, body = await pipl(providers, known)
    assert (status, body["@http_status_code"], body["@persons_count"]) == (200, 200, 1)
    person = body["person"]
    assert person["emails"] == [{"address": known}]
    assert person["names"][0]["display"] and person["jobs"][0]["organization"]
    assert {u["@domain"] for u in person["urls"]} == {"linkedin.com", "twitter.com"}
    status, _, body = await pipl(providers, email_unknown_to("pipl"))
    assert (status, body["@persons_count"]) == (200, 0)
    assert "person" not in body and "possible_persons" not in body
    # POSTed as a form, as the real one takes it too.
    status, _, body = await call(
        "POST", f"{providers.url('pipl')}/search/", data={"key": KEY, "email": known}
    )
    assert (status, body["person"]["@id"]) == (200, person["@id"])


async def test_pdl_answers_likelihood_and_data_and_honours_min_likelihood(
    providers: ProvidersSimulator,
) -> None:
    known = email_known_to("pdl")
    status, _, body = await pdl(providers, known)
    assert (status, body["status"]) == (200, 200)
    assert 2 <= body["likelihood"] <= 10
    data = body["data"]
    assert data["emails"] == [{"address": known, "type": "professional"}]
    assert data["full_name"] == f"{data['first_name']} {data['last_name']}"
    assert data["linkedin_url"].startswith("linkedin.com/in/")
    likely = body["likelihood"]
    assert (await pdl(providers, known, min_likelihood=str(likely)))[0] == 200
    if likely < 10:
        status, _, body = await pdl(providers, known, min_likelihood=str(likely + 1))
        assert (status, body["error"]["type"]) == (404, "not_found")
    status, _, body = await pdl(providers, email_unknown_to("pdl"))
    assert (status, body["status"], body["error"]["type"]) == (404, 404, "not_found")
    assert (await pdl(providers, known, min_likelihood="eleven"))[0] == 400
    # The key as a query parameter, as the real one takes it too.
    status, _, _ = await call(
        "GET", f"{providers.url('pdl')}/v5/person/enrich", params={"email": known, "api_key": KEY}
    )
    assert status == 200


async def test_v12_scores_a_known_consumer_and_404s_an_unknown_one(
    providers: ProvidersSimulator,
) -> None:
    status, _, body = await v12(providers, email_known_to("v12"))
    assert (status, body["matched"], body["match_level"]) == (200, True, "email")
    score = body["scores"]["pyco"]
    assert 1 <= score["score"] <= 99 and 1 <= score["decile"] <= 10
    status, _, body = await v12(providers, email_unknown_to("v12"))
    assert (status, body) == (404, {"matched": False, "error": "no_match"})


async def test_watson_profiles_a_text_with_the_big_five_and_refuses_short_ones(
    providers: ProvidersSimulator,
) -> None:
    status, _, profile = await watson(providers, WORDS, raw_scores="true")
    assert (status, profile["word_count"], profile["processed_language"]) == (200, 150, "en")
    traits = profile["personality"]
    assert [t["trait_id"] for t in traits] == [
        "big5_openness",
        "big5_conscientiousness",
        "big5_extraversion",
        "big5_agreeableness",
        "big5_neuroticism",
    ]
    for trait in traits:
        assert 0 <= trait["percentile"] <= 1 and "raw_score" in trait
        assert len(trait["children"]) == 6
    assert len(profile["needs"]) == 12 and len(profile["values"]) == 5
    assert profile["warnings"][0]["warning_id"] == "WORD_COUNT_MESSAGE"
    status, _, plain = await watson(providers, WORDS)
    assert status == 200 and "raw_score" not in plain["personality"][0]
    # The same text as JSON content items is the same profile.
    basic = base64.b64encode(f"apikey:{KEY}".encode()).decode()
    status, _, as_json = await call(
        "POST",
        f"{providers.url('watson')}/v3/profile",
        params={"version": "2017-10-13"},
        json={"contentItems": [{"content": WORDS, "contenttype": "text/plain"}]},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert (status, as_json["personality"]) == (200, plain["personality"])
    status, _, body = await watson(providers, "far too short")
    assert (status, body["code"]) == (400, 400)
    assert "less than the minimum number of words" in body["error"]
    status, _, _ = await call(
        "POST", f"{providers.url('watson')}/v3/profile", data=WORDS.encode(),
        headers={"Authorization": f"Basic {basic}", "Content-Type": "text/plain"},
    )  # fmt: skip
    assert status == 400


async def test_every_provider_refuses_a_wrong_or_missing_key(
    providers: ProvidersSimulator,
) -> None:
    email = email_known_to("fullcontact", "pipl", "pdl", "v12")
    assert (await fullcontact(providers, email, key="wrong"))[0] == 401
    assert (await pipl(providers, email, key="wrong"))[0] == 403
    assert (await pdl(providers, email, key="wrong"))[0] == 401
    assert (await v12(providers, email, key="wrong"))[0] == 401
    assert (await watson(providers, WORDS, key="wrong"))[0] == 401
    status, _, _ = await call(
        "POST",
        f"{providers.url('signalhire')}/api/v1/candidate/search",
        json={"items": [email], "callbackUrl": "http://127.0.0.1:9/none"},
    )
    assert status == 401
    status, _, _ = await call(
        "POST", f"{providers.url('fullcontact')}/v3/person.enrich", json={"email": email}
    )
    assert status == 401


async def test_the_same_input_gets_the_same_answer_everywhere(
    providers: ProvidersSimulator,
) -> None:
    email = email_known_to("fullcontact", "pdl")
    first = await fullcontact(providers, email)
    assert await fullcontact(providers, f"  {email.upper()} ") == first
    pdl_person = (await pdl(providers, email))[2]["data"]
    # The same person at each provider that knows them.
    assert pdl_person["full_name"] == first[2]["fullName"].lower()
    assert pdl_person["job_company_name"] == first[2]["organization"].lower()
    assert (await watson(providers, WORDS))[2] == (await watson(providers, WORDS))[2]
    other = (await watson(providers, WORDS + " more"))[2]
    assert other["personality"] != (await watson(providers, WORDS))[2]["personality"]
    # And in another simulator too: nothing depends on the process.
    async with served_simulator() as again:
        assert await fullcontact(again, email) == first


async def test_a_slow_provider_answers_after_a_fast_one(providers: ProvidersSimulator) -> None:
    await providers.configure("pdl", latency_ms=300)
    order: list[str] = []

    async def timed(name: str, request: Any) -> None:
        await request
        order.append(name)

    await asyncio.gather(
        timed("pdl", pdl(providers, email_unknown_to("pdl"))),
        timed("pipl", pipl(providers, email_unknown_to("pipl"))),
    )
    assert order == ["pipl", "pdl"]
    knobs = await providers.configure(latency_ms=0)
    assert {k.latency_ms for k in knobs.values()} == {0}


async def test_told_failures_come_first_then_the_rates_seeded(
    providers: ProvidersSimulator,
) -> None:
    email = email_known_to("fullcontact")
    await providers.fail("fullcontact", 503, times=2)
    assert [(await fullcontact(providers, email))[0] for _ in range(3)] == [503, 503, 200]
    await providers.configure("fullcontact", throttle_rate=1.0)
    status, headers, body = await fullcontact(providers, email)
    assert (status, headers["Retry-After"], body["status"]) == (429, "1", 429)
    await providers.configure("fullcontact", throttle_rate=0.0, error_rate=1.0)
    assert (await fullcontact(providers, email))[0] == 500
    # Other providers keep answering.
    assert (await pipl(providers, email))[0] == 200

    async def statuses(simulator: ProvidersSimulator) -> list[int]:
        await simulator.configure(error_rate=0.3, throttle_rate=0.3)
        return [(await pdl(simulator, email))[0] for _ in range(20)]

    # A seed's sequence of answers repeats, and holds every kind.
    async with served_simulator(seed=7) as one, served_simulator(seed=7) as two:
        first = await statuses(one)
        assert first == await statuses(two)
        assert {429, 500} <= set(first) and ({200, 404} & set(first))


async def test_calls_are_counted_per_provider_and_key_until_forgotten(
    providers: ProvidersSimulator,
) -> None:
    email = email_known_to("fullcontact")
    await fullcontact(providers, email)
    await fullcontact(providers, email.upper())
    await pdl(providers, email)
    await fullcontact(providers, email, key="wrong")
    assert await providers.calls("fullcontact") == 3
    assert await providers.calls_for("fullcontact", email) == 3
    assert await providers.calls_for("pdl", email) == 1
    assert await providers.calls("pipl") == 0
    await providers.forget()
    assert await providers.calls("fullcontact") == 0


async def test_signalhire_accepts_at_once_and_posts_the_results_to_the_callback(
    providers: ProvidersSimulator,
) -> None:
    received: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def callback(request: web.Request) -> web.Response:
        await received.put((request.headers["Request-Id"], await request.json()))
        return web.Response()

    target = web.Application()
    target.add_routes([web.post("/signalhire", callback)])
    known, unknown = email_known_to("signalhire"), email_unknown_to("signalhire")
    await providers.configure("signalhire", latency_ms=200)
    async with serving(target) as target_url:
        status, headers, body = await call(
            "POST",
            f"{providers.url('signalhire')}/api/v1/candidate/search",
            json={"items": [known, unknown], "callbackUrl": f"{target_url}/signalhire"},
            headers={"apikey": KEY},
        )
        assert status == 201 and isinstance(body["requestId"], int)
        assert "X-Credits-Left" in headers
        # Accepted before the results: they come after the latency.
        assert received.empty()
        request_id, results = await asyncio.wait_for(received.get(), timeout=5)
    assert request_id == str(body["requestId"])
    assert [(r["item"], r["status"]) for r in results] == [(known, "success"), (unknown, "failed")]
    candidate = results[0]["candidate"]
    assert {"type": "email", "value": known, "rating": "100", "subType": "work"} in candidate[
        "contacts"
    ]
    assert {s["type"] for s in candidate["social"]} == {"li", "tw", "fb", "gh"}
    assert candidate["fullName"] and candidate["experience"][0]["company"]
    assert await providers.callbacks() == [
        {"request_id": body["requestId"], "url": f"{target_url}/signalhire", "status": 200}
    ]
    assert await providers.calls_for("signalhire", unknown) == 1
    too_many = {"items": [known] * 101, "callbackUrl": f"{target_url}/signalhire"}
    status, _, _ = await call(
        "POST",
        f"{providers.url('signalhire')}/api/v1/candidate/search",
        json=too_many,
        headers={"apikey": KEY},
    )
    assert status == 406


async def test_control_requests_are_validated(providers: ProvidersSimulator) -> None:
    base = f"{providers.base}/_simulator"
    assert (await call("POST", f"{base}/config", json={"provider": "nobody"}))[0] == 400
    assert (await call("POST", f"{base}/config", json={"error_rate": 2}))[0] == 400
    assert (await call("POST", f"{base}/fail", json={"provider": "pdl", "status": 200}))[0] == 400


async def test_the_command_line_sets_the_knobs_of_every_provider() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators.providers", "--port", str(port), "--api-key", "other",
        "--latency-ms", "5", "--throttle-rate", "1", "--seed", "3",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        simulator = ProvidersSimulator(f"http://127.0.0.1:{port}", "other")

        async def knobs() -> dict[str, Any]:
            try:
                answer: dict[str, Any] = (await call("GET", f"{simulator.base}/_simulator/config"))[
                    2
                ]
            except aiohttp.ClientConnectionError:
                # Not listening yet.
                return {}
            return answer

        config = await eventually(knobs, timeout=10)
        assert {(k["latency_ms"], k["throttle_rate"]) for k in config.values()} == {(5, 1.0)}
        status, headers, _ = await v12(simulator, "someone@example.com", key="other")
        assert (status, headers["Retry-After"]) == (429, "1")
        assert (await v12(simulator, "someone@example.com"))[0] == 401
    finally:
        process.terminate()
        await process.wait()
