"""A local server speaking the public HTTP APIs of the data providers the enrichment pipeline
calls, for tests and `make run`: one server, each provider under a path prefix of its own, so
an adapter's base URL setting points at `http://HOST:PORT/<provider>` (docs/providers.md has
each real API's contract and what the simulator assumes):

- `POST /fullcontact/v3/person.enrich` (`Authorization: Bearer KEY`, JSON `{email|emails|
  phone|phones|profiles}`): 200 the person, 404 `{"status": 404, "message": "Profile not
  found"}`, 422 for a query it cannot use;
- `GET|POST /pipl/search/` (`key` parameter; `email`, `phone`, `username`, `url`, `raw_name`
  ...): 200 with `person` and `@persons_count` 1, or `@persons_count` 0 and no person;
- `GET /pdl/v5/person/enrich` (`X-Api-Key` header or `api_key` parameter; `email`, `phone`,
  `profile`, `min_likelihood`): 200 `{status, likelihood, data}`, 404 `not_found` (also when
  the match's likelihood is below `min_likelihood`);
- `POST /signalhire/api/v1/candidate/search` (`apikey` header, JSON `{items, callbackUrl}`):
  201 `{requestId}` at once; the results are POSTed to `callbackUrl` (header `Request-Id`, a
  JSON array of `{item, status, candidate?}`) after the configured latency;
- `POST /watson/v3/profile?version=2017-10-13` (HTTP basic `apikey:KEY`, `text/plain` or
  `application/json` contentItems): a Personality Insights v3 profile (Big Five with facets,
  needs, values), 400 under 100 words;
- `POST /v12/v1/consumer/append` (`X-Api-Key`, JSON `{email|phone}`): the propensity (PYCO)
  score, 404 no match. V12 publishes no API contract: this one is the pipeline's assumption.

Every answer is derived from the input alone (a SHA-256 of the normalised email, phone,
profile URL or text), so the same input always gets the same answer: each provider knows a
different share of people (FullContact 60 %, Pipl 50 %, PDL 70 %, SignalHire 65 %, V12 80 %;
Watson profiles any text of 100 words or more), and a person's name, company, title, place,
phone and social profiles are the same at every provider that knows them.

Knobs, per provider, set at start for all (`--latency-ms`, `--error-rate`, `--throttle-rate`)
and at run time under `/_simulator/`:

- `POST /_simulator/config` `{"provider"?: "pdl", "latency_ms"?, "error_rate"?,
  "throttle_rate"?}`: change the knobs of one provider (or of all, without `provider`);
  `GET /_simulator/config` shows them. A call waits `latency_ms`, then is answered 429 (with
  `Retry-After`) with probability `throttle_rate`, else 500 with probability `error_rate`,
  drawn from one generator seeded by `--seed`, so a run's sequence of answers repeats;
- `POST /_simulator/fail` `{"provider": "pipl", "status": 503, "times": 2}`: the provider's
  next 2 calls answer that status, before any random draw;
- `GET /_simulator/calls`: `{"providers": {name: {"calls": n, "keys": {key: n}}}}`, every call
  received (refused ones too), keyed by the normalised lookup key;
- `GET /_simulator/callbacks`: the SignalHire callbacks delivered `{request_id, url, status}`;
- `DELETE /_simulator/calls`: forget calls, callbacks and told failures (the knobs stay).

    python -m simulators.providers --port 8194 [--host 127.0.0.1] [--api-key KEY]
        [--latency-ms 0] [--error-rate 0] [--throttle-rate 0] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import logging
import random
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger("simulators.providers")

DEFAULT_PORT = 8194
DEFAULT_API_KEY = "local-provider-key"
Provider = Literal["fullcontact", "pipl", "pdl", "signalhire", "watson", "v12"]
PROVIDERS: tuple[Provider, ...] = get_args(Provider)
# The share of people each provider knows; Watson profiles any text long enough.
KNOWN_SHARE: dict[Provider, float] = {
    "fullcontact": 0.6,
    "pipl": 0.5,
    "pdl": 0.7,
    "signalhire": 0.65,
    "watson": 1.0,
    "v12": 0.8,
}
RETRY_AFTER_SECONDS = 1
# Pipl refuses a missing or wrong key with 403; the others with 401.
REFUSED_KEY: dict[Provider, int] = {"pipl": 403}
MIN_WORDS = 100
# SignalHire takes at most this many items a request (406 beyond).
MAX_SIGNALHIRE_ITEMS = 100
SIGNALHIRE_CREDITS = 10_000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

FIRST_NAMES = (
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret",
    "Ken", "Radia", "Niklaus", "Katherine", "Dennis", "Shafi", "Tim",
)  # fmt: skip
LAST_NAMES = (
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus",
    "Hamilton", "Thompson", "Perlman", "Wirth", "Johnson", "Ritchie", "Goldwasser", "Lee",
)  # fmt: skip
COMPANIES = (
    "Acme Corp", "Globex", "Initech", "Umbrella Labs", "Hooli", "Stark Industries",
    "Wayne Enterprises", "Vandelay Industries",
)  # fmt: skip
TITLES = (
    "Software Engineer", "Product Manager", "Data Scientist", "Head of Sales",
    "Marketing Director", "Chief Technology Officer", "Account Executive", "Designer",
)  # fmt: skip
# (city, region, region code, country, country code)
PLACES = (
    ("Denver", "Colorado", "CO", "United States", "US"),
    ("Austin", "Texas", "TX", "United States", "US"),
    ("Seattle", "Washington", "WA", "United States", "US"),
    ("Boston", "Massachusetts", "MA", "United States", "US"),
    ("London", "England", "ENG", "United Kingdom", "GB"),
    ("Toronto", "Ontario", "ON", "Canada", "CA"),
    ("Berlin", "Berlin", "BE", "Germany", "DE"),
    ("Sydney", "New South Wales", "NSW", "Australia", "AU"),
)
# Personality Insights v3's Big Five (trait id, name) and each trait's six facets.
BIG_FIVE: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("big5_openness", "Openness", (
        ("facet_adventurousness", "Adventurousness"),
        ("facet_artistic_interests", "Artistic interests"),
        ("facet_emotionality", "Emotionality"),
        ("facet_imagination", "Imagination"),
        ("facet_intellect", "Intellect"),
        ("facet_liberalism", "Authority-challenging"),
    )),
    ("big5_conscientiousness", "Conscientiousness", (
        ("facet_achievement_striving", "Achievement striving"),
        ("facet_cautiousness", "Cautiousness"),
        ("facet_dutifulness", "Dutifulness"),
        ("facet_orderliness", "Orderliness"),
        ("facet_self_discipline", "Self-discipline"),
        ("facet_self_efficacy", "Self-efficacy"),
    )),
    ("big5_extraversion", "Extraversion", (
        ("facet_activity_level", "Activity level"),
        ("facet_assertiveness", "Assertiveness"),
        ("facet_cheerfulness", "Cheerfulness"),
        ("facet_excitement_seeking", "Excitement-seeking"),
        ("facet_friendliness", "Outgoing"),
        ("facet_gregariousness", "Gregariousness"),
    )),
    ("big5_agreeableness", "Agreeableness", (
        ("facet_altruism", "Altruism"),
        ("facet_cooperation", "Cooperation"),
        ("facet_modesty", "Modesty"),
        ("facet_morality", "Uncompromising"),
        ("facet_sympathy", "Sympathy"),
        ("facet_trust", "Trust"),
    )),
    ("big5_neuroticism", "Emotional range", (
        ("facet_anger", "Fiery"),
        ("facet_anxiety", "Prone to worry"),
        ("facet_depression", "Melancholy"),
        ("facet_immoderation", "Immoderation"),
        ("facet_self_consciousness", "Self-consciousness"),
        ("facet_vulnerability", "Susceptible to stress"),
    )),
)  # fmt: skip
NEEDS = (
    ("need_challenge", "Challenge"), ("need_closeness", "Closeness"),
    ("need_curiosity", "Curiosity"), ("need_excitement", "Excitement"),
    ("need_harmony", "Harmony"), ("need_ideal", "Ideal"), ("need_liberty", "Liberty"),
    ("need_love", "Love"), ("need_practicality", "Practicality"),
    ("need_self_expression", "Self-expression"), ("need_stability", "Stability"),
    ("need_structure", "Structure"),
)  # fmt: skip
VALUES = (
    ("value_conservation", "Conservation"), ("value_openness_to_change", "Openness to change"),
    ("value_hedonism", "Hedonism"), ("value_self_enhancement", "Self-enhancement"),
    ("value_self_transcendence", "Self-transcendence"),
)  # fmt: skip


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def normalised_email(email: str) -> str:
    return email.strip().lower()


def normalised_phone(phone: str) -> str:
    """Digits only, with the leading + of an international number."""
    digits = re.sub(r"\D", "", phone)
    return f"+{digits}" if phone.strip().startswith("+") else digits


def normalised_profile(url: str) -> str:
    """A profile URL without scheme, `www.` or trailing slash, lower-cased."""
    bare = re.sub(r"^[a-z]+://", "", url.strip().lower())
    return bare.removeprefix("www.").rstrip("/")


def normalised_text(text: str) -> str:
    return " ".join(text.split())


def text_key(text: str) -> str:
    """The lookup key of a text (Watson): its hash, as texts are long."""
    return "text:" + hashlib.sha256(normalised_text(text).encode()).hexdigest()[:16]


def knows(provider: Provider, key: str) -> bool:
    """Whether `provider` knows the person of this lookup key: a share of keys of its own,
    as each provider's hash is salted with its name."""
    fraction = int.from_bytes(digest(f"{provider}:{key}")[:4]) / 2**32
    return fraction < KNOWN_SHARE[provider]


@dataclass(frozen=True)
class Person:
    """Who a lookup key is, the same at every provider that knows it."""

    first: str
    last: str
    company: str
    title: str
    city: str
    region: str
    region_code: str
    country: str
    country_code: str
    phone: str
    handle: str
    uid: str

    @property
    def full_name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def location(self) -> str:
        return f"{self.city}, {self.region}, {self.country}"

    @property
    def linkedin(self) -> str:
        return f"https://www.linkedin.com/in/{self.handle}"

    @property
    def twitter(self) -> str:
        return f"https://twitter.com/{self.handle}"

    @property
    def facebook(self) -> str:
        return f"https://www.facebook.com/{self.handle}"

    @property
    def github(self) -> str:
        return f"https://github.com/{self.handle}"


def person_for(key: str) -> Person:
    h = digest(f"person:{key}")
    first, last = FIRST_NAMES[h[0] % len(FIRST_NAMES)], LAST_NAMES[h[1] % len(LAST_NAMES)]
    city, region, region_code, country, country_code = PLACES[h[4] % len(PLACES)]
    return Person(
        first=first,
        last=last,
        company=COMPANIES[h[2] % len(COMPANIES)],
        title=TITLES[h[3] % len(TITLES)],
        city=city,
        region=region,
        region_code=region_code,
        country=country,
        country_code=country_code,
        # 555-01xx numbers are reserved for fiction.
        phone=f"+1555010{int.from_bytes(h[5:7]) % 10000:04d}",
        handle=f"{first}-{last}-{h[7]:02x}{h[8]:02x}".lower(),
        uid=h[9:25].hex(),
    )


def percentiles(text: str, count: int, salt: str) -> list[float]:
    h = digest(f"{salt}:{normalised_text(text)}")
    while len(h) < 2 * count:
        h += digest(h.hex())
    return [round(int.from_bytes(h[2 * i : 2 * i + 2]) / 65535, 4) for i in range(count)]


def propensity(key: str) -> int:
    """V12's PYCO score of a known person, 1 to 99."""
    return 1 + int.from_bytes(digest(f"pyco:{key}")[:2]) % 99


def likelihood(key: str) -> int:
    """PDL's likelihood of a match, 2 to 10."""
    return 2 + digest(f"likelihood:{key}")[0] % 9


# Answers in each provider's documented shape.


def fullcontact_person(p: Person, email: str | None) -> dict[str, Any]:
    return {
        "fullName": p.full_name,
        "ageRange": None,
        "gender": None,
        "location": p.location,
        "title": p.title,
        "organization": p.company,
        "twitter": p.twitter,
        "linkedin": p.linkedin,
        "facebook": p.facebook,
        "bio": f"{p.title} at {p.company}",
        "avatar": None,
        "website": None,
        "details": {
            "name": {"given": p.first, "family": p.last, "full": p.full_name},
            "age": None,
            "gender": None,
            "demographics": {},
            "emails": [{"label": "work", "value": email}] if email else [],
            "phones": [{"label": "mobile", "value": p.phone}],
            "profiles": {
                "twitter": {"service": "twitter", "username": p.handle, "url": p.twitter},
                "linkedin": {"service": "linkedin", "username": p.handle, "url": p.linkedin},
            },
            "locations": [
                {
                    "label": "home",
                    "city": p.city,
                    "region": p.region,
                    "regionCode": p.region_code,
                    "country": p.country,
                    "countryCode": p.country_code,
                    "formatted": p.location,
                }
            ],
            "employment": [{"name": p.company, "current": True, "title": p.title}],
            "photos": [],
            "education": [],
            "urls": [],
            "interests": [],
        },
        "updated": "2026-01-01",
    }


def pipl_person(p: Person, email: str | None) -> dict[str, Any]:
    return {
        "@id": p.uid,
        "@match": 1.0,
        "names": [{"first": p.first, "last": p.last, "display": p.full_name}],
        "emails": [{"address": email}] if email else [],
        "phones": [{"number": int(p.phone[2:]), "country_code": 1, "display": p.phone}],
        "addresses": [
            {"country": p.country_code, "state": p.region_code, "city": p.city,
             "display": p.location}
        ],
        "jobs": [
            {"title": p.title, "organization": p.company,
             "display": f"{p.title} at {p.company}"}
        ],
        "urls": [
            {"@domain": "linkedin.com", "@category": "professional_and_business",
             "url": p.linkedin},
            {"@domain": "twitter.com", "@category": "personal_profiles", "url": p.twitter},
        ],
        "usernames": [{"content": p.handle}],
    }  # fmt: skip


def pdl_person(p: Person, email: str | None) -> dict[str, Any]:
    return {
        "id": p.uid,
        "full_name": p.full_name.lower(),
        "first_name": p.first.lower(),
        "last_name": p.last.lower(),
        "job_title": p.title.lower(),
        "job_company_name": p.company.lower(),
        "location_name": p.location.lower(),
        "location_locality": p.city.lower(),
        "location_region": p.region.lower(),
        "location_country": p.country.lower(),
        "mobile_phone": p.phone,
        "phone_numbers": [p.phone],
        "emails": [{"address": email, "type": "professional"}] if email else [],
        "linkedin_url": p.linkedin.removeprefix("https://www."),
        "twitter_url": p.twitter.removeprefix("https://"),
        "facebook_url": p.facebook.removeprefix("https://www."),
        "github_url": p.github.removeprefix("https://"),
        "profiles": [
            {"network": "linkedin", "username": p.handle,
             "url": p.linkedin.removeprefix("https://www.")},
            {"network": "twitter", "username": p.handle,
             "url": p.twitter.removeprefix("https://")},
        ],
    }  # fmt: skip


def signalhire_candidate(p: Person, email: str | None) -> dict[str, Any]:
    contacts = [{"type": "phone", "value": p.phone, "rating": "100", "subType": "mobile"}]
    if email:
        contacts.insert(0, {"type": "email", "value": email, "rating": "100", "subType": "work"})
    return {
        "uid": p.uid,
        "fullName": p.full_name,
        "gender": None,
        "photo": None,
        "locations": [{"name": p.location}],
        "skills": [],
        "education": [],
        "experience": [{"position": p.title, "company": p.company, "current": True}],
        "headLine": f"{p.title} at {p.company}",
        "summary": None,
        "contacts": contacts,
        "social": [
            {"type": "li", "link": p.linkedin, "rating": "100"},
            {"type": "tw", "link": p.twitter, "rating": "100"},
            {"type": "fb", "link": p.facebook, "rating": "100"},
            {"type": "gh", "link": p.github, "rating": "100"},
        ],
    }


def watson_profile(text: str, words: int, *, raw_scores: bool) -> dict[str, Any]:
    def trait(trait_id: str, name: str, category: str, score: float) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "trait_id": trait_id,
            "name": name,
            "category": category,
            "percentile": score,
            "significant": True,
        }
        if raw_scores:
            # The raw score sits near the middle of the scale whatever the percentile.
            answer["raw_score"] = round(0.25 + score / 2, 4)
        return answer

    big5 = percentiles(text, 5, "big5")
    facets = percentiles(text, 30, "facets")
    personality = []
    for i, (trait_id, name, children) in enumerate(BIG_FIVE):
        entry = trait(trait_id, name, "personality", big5[i])
        entry["children"] = [
            trait(facet_id, facet_name, "personality", facets[6 * i + j])
            for j, (facet_id, facet_name) in enumerate(children)
        ]
        personality.append(entry)
    needs = percentiles(text, len(NEEDS), "needs")
    values = percentiles(text, len(VALUES), "values")
    warnings = []
    if words < 600:
        warnings.append(
            {
                "warning_id": "WORD_COUNT_MESSAGE",
                "message": f"There were {words} words in the input. We need a minimum of 600, "
                "preferably 1,200 or more, to compute statistically significant estimates",
            }
        )
    return {
        "word_count": words,
        "processed_language": "en",
        "personality": personality,
        "needs": [trait(i, n, "needs", s) for (i, n), s in zip(NEEDS, needs, strict=True)],
        "values": [trait(i, n, "values", s) for (i, n), s in zip(VALUES, values, strict=True)],
        "warnings": warnings,
    }


# Each provider's error body, by status, in its own shape.


def error_body(provider: Provider, status: int, message: str) -> dict[str, Any] | list[Any]:
    if provider == "fullcontact":
        return {"status": status, "message": message}
    if provider == "pipl":
        return {"@http_status_code": status, "error": message}
    if provider == "pdl":
        kinds = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found",
                 429: "rate_limit_error"}  # fmt: skip
        return {"status": status, "error": {"type": kinds.get(status, "error"), "message": message}}
    if provider == "watson":
        return {"code": status, "error": message}
    return {"error": message}


def answer_error(provider: Provider, status: int, message: str) -> web.Response:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 429 else {}
    return web.json_response(error_body(provider, status, message), status=status, headers=headers)


# The simulator.


class Knobs(BaseModel):
    latency_ms: int = Field(default=0, ge=0, le=60_000)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    throttle_rate: float = Field(default=0.0, ge=0, le=1)


class KnobsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Provider | None = None
    latency_ms: int | None = Field(default=None, ge=0, le=60_000)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    throttle_rate: float | None = Field(default=None, ge=0, le=1)


class FailRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Provider
    status: int = Field(ge=400, le=599)
    times: int = Field(default=1, ge=1)


class Invalid(Exception):
    """An input the provider refuses, with the status it answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class FullContactQuery(BaseModel):
    model_config = ConfigDict(extra="allow")

    email: str | None = None
    emails: list[str] = Field(default_factory=list)
    phone: str | None = None
    phones: list[str] = Field(default_factory=list)
    profiles: list[dict[str, str]] = Field(default_factory=list)


class SignalHireRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    items: list[str] = Field(min_length=1)
    callbackUrl: str = Field(min_length=1)
    withoutContacts: bool = False


class ContentItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    content: str


class WatsonContent(BaseModel):
    contentItems: list[ContentItem] = Field(min_length=1)


class V12Query(BaseModel):
    model_config = ConfigDict(extra="allow")

    email: str | None = None
    phone: str | None = None


# A handler's lookup: the key to count the call under, then the answer once knobs allow.
Lookup = tuple[str | None, Callable[[], Awaitable[web.Response]]]


def lookup_key(value: str) -> str:
    """The key of an identifier of any kind: an email, a phone or a profile URL."""
    if "@" in value and "/" not in value:
        return normalised_email(value)
    if re.fullmatch(r"[\s\d+().-]+", value):
        return normalised_phone(value)
    return normalised_profile(value)


@dataclass
class Simulator:
    api_key: str = DEFAULT_API_KEY
    seed: int = 0
    defaults: Knobs = field(default_factory=Knobs)
    knobs: dict[Provider, Knobs] = field(init=False)
    calls: dict[Provider, Counter[str]] = field(init=False)
    totals: Counter[Provider] = field(default_factory=Counter)
    # provider -> [status, calls still to answer with it], oldest first.
    told: dict[Provider, list[list[int]]] = field(init=False)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    _random: random.Random = field(init=False)
    _request_ids: int = 0
    _deliveries: set[asyncio.Task[None]] = field(default_factory=set)
    _http: aiohttp.ClientSession | None = None

    def __post_init__(self) -> None:
        self.knobs = {p: self.defaults.model_copy() for p in PROVIDERS}
        self.calls = {p: Counter() for p in PROVIDERS}
        self.told = {p: [] for p in PROVIDERS}
        self._random = random.Random(self.seed)

    def app(self) -> web.Application:
        app = web.Application()
        app.cleanup_ctx.append(self._client)
        app.add_routes(
            [
                web.post("/fullcontact/v3/person.enrich", self._fullcontact),
                web.get("/pipl/search/", self._pipl),
                web.post("/pipl/search/", self._pipl),
                web.get("/pdl/v5/person/enrich", self._pdl),
                web.post("/signalhire/api/v1/candidate/search", self._signalhire),
                web.post("/watson/v3/profile", self._watson),
                web.post("/v12/v1/consumer/append", self._v12),
                web.get("/_simulator/config", self._show_config),
                web.post("/_simulator/config", self._configure),
                web.post("/_simulator/fail", self._fail),
                web.get("/_simulator/calls", self._show_calls),
                web.delete("/_simulator/calls", self._forget),
                web.get("/_simulator/callbacks", self._show_callbacks),
            ]
        )
        return app

    async def _client(self, _: web.Application) -> AsyncIterator[None]:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        yield
        for task in list(self._deliveries):
            task.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)
        await self._http.close()

    # The path every provider call takes.

    async def _serve(
        self,
        provider: Provider,
        authorised: bool,
        lookup: Callable[[], Awaitable[Lookup]],
        *,
        delay: bool = True,
    ) -> web.Response:
        outcome: Lookup | web.Response
        try:
            outcome = await lookup()
        except Invalid as exc:
            outcome = answer_error(provider, exc.status, exc.message)
        key = outcome[0] if isinstance(outcome, tuple) else None
        self.totals[provider] += 1
        if key is not None:
            self.calls[provider][key] += 1
        knobs = self.knobs[provider]
        if delay and knobs.latency_ms:
            await asyncio.sleep(knobs.latency_ms / 1000)
        if (status := self._take_told(provider)) is not None:
            return answer_error(provider, status, f"told to answer {status}")
        if not authorised:
            status = REFUSED_KEY.get(provider, 401)
            return answer_error(provider, status, "invalid or missing API key")
        if isinstance(outcome, web.Response):
            return outcome
        # Both draws are made every call, so the sequence of answers depends on the seed only.
        throttled = self._random.random() < knobs.throttle_rate
        failed = self._random.random() < knobs.error_rate
        if throttled:
            return answer_error(provider, 429, "too many requests")
        if failed:
            return answer_error(provider, 500, "simulated internal error")
        return await outcome[1]()

    def _take_told(self, provider: Provider) -> int | None:
        pending = self.told[provider]
        if not pending:
            return None
        fault = pending[0]
        fault[1] -= 1
        if fault[1] <= 0:
            pending.pop(0)
        return fault[0]

    # FullContact Person Enrich v3.

    async def _fullcontact(self, request: web.Request) -> web.Response:
        authorised = request.headers.get("Authorization") == f"Bearer {self.api_key}"

        async def lookup() -> Lookup:
            try:
                query = FullContactQuery.model_validate_json(await request.read())
            except ValidationError as exc:
                raise Invalid(400, f"Bad Request: {_reasons(exc)}") from exc
            emails = [e for e in [query.email, *query.emails] if e]
            phones = [p for p in [query.phone, *query.phones] if p]
            urls = [p["url"] for p in query.profiles if p.get("url")]
            if any(not EMAIL.match(e.strip()) for e in emails):
                raise Invalid(422, "Invalid email address")
            if emails:
                key = normalised_email(emails[0])
            elif phones:
                key = normalised_phone(phones[0])
            elif urls:
                key = normalised_profile(urls[0])
            else:
                raise Invalid(422, "Query must include an email, phone or profile")
            email = normalised_email(emails[0]) if emails else None

            async def answer() -> web.Response:
                if not knows("fullcontact", key):
                    return answer_error("fullcontact", 404, "Profile not found")
                return web.json_response(fullcontact_person(person_for(key), email))

            return key, answer

        return await self._serve("fullcontact", authorised, lookup)

    # Pipl Search API.

    async def _pipl(self, request: web.Request) -> web.Response:
        params: dict[str, str] = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        authorised = params.get("key") == self.api_key

        async def lookup() -> Lookup:
            email, phone = params.get("email"), params.get("phone")
            url = params.get("url")
            if email is not None and not EMAIL.match(email.strip()):
                raise Invalid(400, "The email address is invalid")
            key = (
                normalised_email(email) if email
                else normalised_phone(phone) if phone
                else normalised_profile(url) if url
                else None
            )  # fmt: skip
            if key is None:
                raise Invalid(400, "The query holds no email, phone or url to search by")

            async def answer() -> web.Response:
                body: dict[str, Any] = {
                    "@http_status_code": 200,
                    "@visible_sources": 0,
                    "@available_sources": 0,
                    "@persons_count": 0,
                    "@search_id": digest(f"search:{key}")[:8].hex(),
                    "query": {k: v for k, v in params.items() if k != "key"},
                }
                if knows("pipl", key):
                    body.update(
                        {"@visible_sources": 1, "@available_sources": 1, "@persons_count": 1}
                    )
                    body["person"] = pipl_person(person_for(key), email and normalised_email(email))
                return web.json_response(body)

            return key, answer

        return await self._serve("pipl", authorised, lookup)

    # People Data Labs Person Enrichment v5.

    async def _pdl(self, request: web.Request) -> web.Response:
        query = request.query
        given = request.headers.get("X-Api-Key") or query.get("api_key")
        authorised = given == self.api_key

        async def lookup() -> Lookup:
            email, phone, profile = query.get("email"), query.get("phone"), query.get("profile")
            min_text = query.get("min_likelihood", "0")
            if not min_text.isdigit() or not 0 <= int(min_text) <= 10:
                raise Invalid(400, "min_likelihood must be an integer from 0 to 10")
            if email is not None and not EMAIL.match(email.strip()):
                raise Invalid(400, "email is not a valid email address")
            key = (
                normalised_email(email) if email
                else normalised_phone(phone) if phone
                else normalised_profile(profile) if profile
                else None
            )  # fmt: skip
            if key is None:
                raise Invalid(400, "Request needs an email, phone, profile or name with company")

            async def answer() -> web.Response:
                score = likelihood(key)
                if not knows("pdl", key) or score < int(min_text):
                    return answer_error("pdl", 404, "No records were found matching your request")
                data = pdl_person(person_for(key), email and normalised_email(email))
                return web.json_response({"status": 200, "likelihood": score, "data": data})

            return key, answer

        return await self._serve("pdl", authorised, lookup)

    # SignalHire Person API: accepted at once, answered to the callback URL.

    async def _signalhire(self, request: web.Request) -> web.Response:
        authorised = request.headers.get("apikey") == self.api_key

        async def lookup() -> Lookup:
            try:
                search = SignalHireRequest.model_validate_json(await request.read())
            except ValidationError as exc:
                raise Invalid(422, _reasons(exc)) from exc
            if len(search.items) > MAX_SIGNALHIRE_ITEMS:
                raise Invalid(406, f"At most {MAX_SIGNALHIRE_ITEMS} items a request")
            keys = [lookup_key(item) for item in search.items]
            # Count every item but the first here; _serve counts the first.
            for key in keys[1:]:
                self.calls["signalhire"][key] += 1

            async def answer() -> web.Response:
                self._request_ids += 1
                request_id = self._request_ids
                task = asyncio.create_task(self._deliver(request_id, search, keys))
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)
                return web.json_response(
                    {"requestId": request_id},
                    status=201,
                    headers={"X-Credits-Left": str(SIGNALHIRE_CREDITS - request_id)},
                )

            return keys[0], answer

        # The latency is the callback's: the request itself is accepted at once.
        return await self._serve("signalhire", authorised, lookup, delay=False)

    async def _deliver(self, request_id: int, search: SignalHireRequest, keys: list[str]) -> None:
        latency = self.knobs["signalhire"].latency_ms
        if latency:
            await asyncio.sleep(latency / 1000)
        results = []
        for item, key in zip(search.items, keys, strict=True):
            if knows("signalhire", key):
                email = key if "@" in key else None
                candidate = signalhire_candidate(person_for(key), email)
                if search.withoutContacts:
                    candidate["contacts"] = []
                results.append({"item": item, "status": "success", "candidate": candidate})
            else:
                results.append({"item": item, "status": "failed"})
        assert self._http is not None
        delivery: dict[str, Any] = {"request_id": request_id, "url": search.callbackUrl}
        try:
            async with self._http.post(
                search.callbackUrl, json=results, headers={"Request-Id": str(request_id)}
            ) as response:
                delivery["status"] = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            delivery["status"] = None
            log.warning(
                "signalhire callback %s to %s failed: %s", request_id, search.callbackUrl, exc
            )
        self.callbacks.append(delivery)

    # Watson Personality Insights v3.

    async def _watson(self, request: web.Request) -> web.Response:
        authorised = _basic(request.headers.get("Authorization")) == ("apikey", self.api_key)

        async def lookup() -> Lookup:
            if not request.query.get("version"):
                raise Invalid(400, "Missing required query parameter 'version'")
            raw_scores = request.query.get("raw_scores", "false") == "true"
            body = await request.read()
            if request.content_type == "application/json":
                try:
                    content = WatsonContent.model_validate_json(body)
                except ValidationError as exc:
                    raise Invalid(400, f"Invalid JSON input: {_reasons(exc)}") from exc
                text = "\n".join(item.content for item in content.contentItems)
            elif request.content_type in ("text/plain", "text/html"):
                text = body.decode(request.charset or "utf-8", errors="replace")
            else:
                raise Invalid(415, f"Unsupported Content-Type {request.content_type}")
            words = len(text.split())
            if words < MIN_WORDS:
                raise Invalid(
                    400,
                    f"The number of words {words} is less than the minimum number of words "
                    f"required for analysis: {MIN_WORDS}",
                )

            async def answer() -> web.Response:
                return web.json_response(watson_profile(text, words, raw_scores=raw_scores))

            return text_key(text), answer

        return await self._serve("watson", authorised, lookup)

    # V12 consumer append (an assumed contract: see docs/providers.md).

    async def _v12(self, request: web.Request) -> web.Response:
        authorised = request.headers.get("X-Api-Key") == self.api_key

        async def lookup() -> Lookup:
            try:
                query = V12Query.model_validate_json(await request.read())
            except ValidationError as exc:
                raise Invalid(400, _reasons(exc)) from exc
            if query.email is not None and not EMAIL.match(query.email.strip()):
                raise Invalid(400, "email is not a valid email address")
            if query.email:
                key, level = normalised_email(query.email), "email"
            elif query.phone:
                key, level = normalised_phone(query.phone), "phone"
            else:
                raise Invalid(400, "an email or a phone is required")

            async def answer() -> web.Response:
                if not knows("v12", key):
                    return web.json_response({"matched": False, "error": "no_match"}, status=404)
                score = propensity(key)
                return web.json_response(
                    {
                        "matched": True,
                        "match_level": level,
                        "consumer_id": person_for(key).uid,
                        "scores": {"pyco": {"score": score, "decile": 1 + (score - 1) // 10}},
                    }
                )

            return key, answer

        return await self._serve("v12", authorised, lookup)

    # Control.

    async def _show_config(self, _: web.Request) -> web.Response:
        return web.json_response({p: k.model_dump() for p, k in self.knobs.items()})

    async def _configure(self, request: web.Request) -> web.Response:
        try:
            told = KnobsRequest.model_validate_json(await request.read())
        except ValidationError as exc:
            return web.json_response({"error": _reasons(exc)}, status=400)
        changes = told.model_dump(exclude={"provider"}, exclude_none=True)
        for provider in [told.provider] if told.provider else PROVIDERS:
            self.knobs[provider] = self.knobs[provider].model_copy(update=changes)
        return await self._show_config(request)

    async def _fail(self, request: web.Request) -> web.Response:
        try:
            fault = FailRequest.model_validate_json(await request.read())
        except ValidationError as exc:
            return web.json_response({"error": _reasons(exc)}, status=400)
        self.told[fault.provider].append([fault.status, fault.times])
        return web.Response(status=204)

    async def _show_calls(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "providers": {
                    p: {"calls": self.totals[p], "keys": dict(self.calls[p])} for p in PROVIDERS
                }
            }
        )

    async def _show_callbacks(self, _: web.Request) -> web.Response:
        return web.json_response({"callbacks": self.callbacks})

    async def _forget(self, _: web.Request) -> web.Response:
        self.totals.clear()
        for provider in PROVIDERS:
            self.calls[provider].clear()
            self.told[provider].clear()
        self.callbacks.clear()
        return web.Response(status=204)


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def _reasons(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the key every provider takes")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--throttle-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(message)s", level=logging.INFO)
    try:
        knobs = Knobs(
            latency_ms=args.latency_ms, error_rate=args.error_rate, throttle_rate=args.throttle_rate
        )
    except ValidationError as exc:
        parser.error(_reasons(exc))
    simulator = Simulator(api_key=args.api_key, seed=args.seed, defaults=knobs)
    log.info("provider simulator on http://%s:%s", args.host, args.port)
    web.run_app(simulator.app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
