"""A typed client of the platform's public HTTP API, for tests and benchmarks.

It speaks to the gateway or straight to a service (same routes), as one caller (a bearer
token). The models below are the published answers as a client reads them: they forbid
unknown fields, so a test fails when an answer drifts from what the README promises.
Typed calls expect their success status and raise `UnexpectedAnswer` otherwise; `call`
answers whatever came, for tests of the error paths.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

import aiohttp
from multidict import CIMultiDictProxy
from pydantic import BaseModel, ConfigDict, TypeAdapter

M = TypeVar("M")
PROBLEM = "application/problem+json"


class Published(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Car(Published):
    id: str
    make: str
    model: str
    year: int
    jurisdiction: str
    number_plate: str
    registered_at: datetime


class Slot(Published):
    id: str
    car_id: str
    from_utc: datetime
    to_utc: datetime
    cause: Literal["reservation", "maintenance", "offline"]
    booking_id: str | None


class BookedCar(Published):
    make: str
    model: str
    number_plate: str


class Booking(Published):
    id: str
    car_id: str
    user_id: str
    start_utc: datetime
    end_utc: datetime
    status: Literal["pending", "confirmed", "cancelled"]
    created_at: datetime
    cancelled_at: datetime | None
    car: BookedCar | None


class ImageUrls(Published):
    self: str
    download: str


class ImageView(Published):
    id: str
    organization_id: str
    content_type: Literal["image/jpeg", "image/png", "image/gif"]
    size: int
    description: str
    filename: str
    uploaded_by: str
    avatar_of: str | None
    created_utc: datetime
    etag: str
    urls: ImageUrls


class Recorded(Published):
    id: str


class FieldError(Published):
    field: str
    message: str


class Problem(Published):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


@dataclass(frozen=True)
class Answer:
    status: int
    headers: CIMultiDictProxy[str]  # names are case-insensitive, as in HTTP
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def parse(self, model: type[M]) -> M:
        """The body as `model` (a published answer, or a list of them)."""
        return TypeAdapter(model).validate_json(self.body)

    def problem(self, status: int) -> Problem:
        """The RFC 9457 problem this answer must be, with `status`."""
        if self.status != status or self.content_type != PROBLEM:
            raise UnexpectedAnswer(self, f"a {status} problem")
        problem = Problem.model_validate_json(self.body)
        assert problem.status == status and problem.title, problem
        return problem


class UnexpectedAnswer(AssertionError):
    def __init__(self, answer: Answer, wanted: str) -> None:
        super().__init__(
            f"wanted {wanted}, got {answer.status}: {answer.body[:500].decode(errors='replace')}"
        )
        self.answer = answer


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def plate() -> str:
    """A number plate no other test uses."""
    return uuid.uuid4().hex[:7].upper()


def car_details(
    *,
    make: str = "Toyota",
    model: str = "Corolla",
    year: int = 2022,
    jurisdiction: str = "NZ",
    number_plate: str | None = None,
) -> dict[str, Any]:
    """The body of `POST /cars`: a car no other test has registered, unless a plate is given."""
    return {
        "make": make,
        "model": model,
        "year": year,
        "jurisdiction": jurisdiction,
        "number_plate": number_plate or plate(),
    }


def image_form(
    file: bytes | AsyncIterable[bytes] | None,
    *,
    description: str | None = "An image",
    filename: str = "image.png",
    avatar_of: str | None = None,
    file_first: bool = False,
    file_type: str = "application/octet-stream",
) -> aiohttp.MultipartWriter:
    """The multipart/form-data body of `POST /images`: the fields given, the file after the
    text fields unless `file_first`; an async iterable file is streamed, never held."""
    form = aiohttp.MultipartWriter("form-data")
    texts = {"description": description, "avatar_of": avatar_of}

    def add_texts() -> None:
        for name, value in texts.items():
            if value is not None:
                form.append(value).set_content_disposition("form-data", name=name)

    if not file_first:
        add_texts()
    if file is not None:
        part = form.append(file, {"Content-Type": file_type})
        # The file name as browsers send it, unencoded (aiohttp would percent-encode it).
        part.set_content_disposition(
            "form-data", quote_fields=False, name="file", filename=filename
        )
    if file_first:
        add_texts()
    return form


class PlatformClient:
    """One caller of the API at `base_url`; `token=None` calls without credentials."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, token: str | None) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.headers = bearer(token) if token else {}

    def as_caller(self, token: str | None) -> PlatformClient:
        """The same API and connection pool, another caller."""
        return PlatformClient(self.http, self.base_url, token)

    def with_api_key(self, api_key: str) -> PlatformClient:
        """The same API and connection pool, a caller sending `api_key` as `X-API-Key` (as
        `as_caller(api_key)` sends it as a bearer token)."""
        caller = PlatformClient(self.http, self.base_url, None)
        caller.headers = {"X-API-Key": api_key}
        return caller

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | aiohttp.FormData | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        async with self.http.request(
            method,
            self.base_url + path,
            json=json,
            data=data,
            params=params,
            headers={**self.headers, **(headers or {})},
        ) as response:
            body = await response.read()
            headers = CIMultiDictProxy(response.headers.copy())
            return Answer(response.status, headers, response.content_type, body)

    async def expect(self, status: int, method: str, path: str, **kwargs: Any) -> Answer:
        answer = await self.call(method, path, **kwargs)
        if answer.status != status:
            raise UnexpectedAnswer(answer, str(status))
        return answer

    async def _typed(self, model: type[M], status: int, method: str, path: str, **kw: Any) -> M:
        return (await self.expect(status, method, path, **kw)).parse(model)

    # --- cars ------------------------------------------------------------------------------

    async def register_car(
        self,
        *,
        make: str = "Toyota",
        model: str = "Corolla",
        year: int = 2022,
        jurisdiction: str = "NZ",
        number_plate: str | None = None,
    ) -> Car:
        body = car_details(
            make=make, model=model, year=year, jurisdiction=jurisdiction, number_plate=number_plate
        )
        return await self._typed(Car, 201, "POST", "/cars", json=body)

    async def cars(self, **page: int) -> list[Car]:
        params = {name: str(value) for name, value in page.items()}
        return await self._typed(list[Car], 200, "GET", "/cars", params=params)

    async def car(self, car_id: str) -> Car:
        return await self._typed(Car, 200, "GET", f"/cars/{car_id}")

    async def available_cars(self, from_utc: str, to_utc: str) -> list[Car]:
        params = {"from_utc": from_utc, "to_utc": to_utc}
        return await self._typed(list[Car], 200, "GET", "/cars/available", params=params)

    async def delete_car(self, car_id: str) -> None:
        await self.expect(204, "DELETE", f"/cars/{car_id}")

    async def maintain(self, car_id: str, from_utc: str, to_utc: str) -> Slot:
        frame = {"from_utc": from_utc, "to_utc": to_utc}
        return await self._typed(Slot, 200, "PUT", f"/cars/{car_id}/maintain", json=frame)

    async def take_offline(self, car_id: str, from_utc: str, to_utc: str) -> Slot:
        frame = {"from_utc": from_utc, "to_utc": to_utc}
        return await self._typed(Slot, 200, "PUT", f"/cars/{car_id}/offline", json=frame)

    async def unavailabilities(self, car_id: str) -> list[Slot]:
        return await self._typed(list[Slot], 200, "GET", f"/cars/{car_id}/unavailabilities")

    # --- bookings --------------------------------------------------------------------------

    @staticmethod
    def trip(car_id: str, start_utc: str, end_utc: str) -> dict[str, str]:
        return {"car_id": car_id, "start_utc": start_utc, "end_utc": end_utc}

    async def book(self, car_id: str, start_utc: str, end_utc: str) -> Booking:
        trip = self.trip(car_id, start_utc, end_utc)
        return await self._typed(Booking, 201, "POST", "/bookings", json=trip)

    async def cancel_booking(self, booking_id: str) -> None:
        await self.expect(204, "DELETE", f"/bookings/{booking_id}")

    async def bookings(self, from_utc: str, to_utc: str) -> list[Booking]:
        params = {"from_utc": from_utc, "to_utc": to_utc}
        return await self._typed(list[Booking], 200, "GET", "/bookings", params=params)

    # --- images ----------------------------------------------------------------------------

    async def post_image(self, form: aiohttp.MultipartWriter) -> Answer:
        """`POST /images` with `form` (`image_form`), whatever it answers."""
        async with self.http.post(
            self.base_url + "/images", data=form, headers=self.headers
        ) as response:
            body = await response.read()
            headers = CIMultiDictProxy(response.headers.copy())
            return Answer(response.status, headers, response.content_type, body)

    async def upload_image(self, file: bytes, **fields: Any) -> ImageView:
        """Upload `file` with the fields of `image_form`; 201."""
        answer = await self.post_image(image_form(file, **fields))
        if answer.status != 201:
            raise UnexpectedAnswer(answer, "201")
        return answer.parse(ImageView)

    async def image(self, image_id: str) -> ImageView:
        return await self._typed(ImageView, 200, "GET", f"/images/{image_id}")

    async def describe_image(self, image_id: str, description: str) -> ImageView:
        body = {"description": description}
        return await self._typed(ImageView, 200, "PATCH", f"/images/{image_id}", json=body)

    async def delete_image(self, image_id: str) -> None:
        await self.expect(204, "DELETE", f"/images/{image_id}")

    async def download_image(self, image_id: str, **headers: str) -> Answer:
        """`GET /images/{id}/download` with `headers` (`If_None_Match=...`), whatever it
        answers."""
        named = {name.replace("_", "-"): value for name, value in headers.items()}
        return await self.call("GET", f"/images/{image_id}/download", headers=named)

    # --- audits ----------------------------------------------------------------------------

    async def audits(self, **params: str) -> list[AuditEntry]:
        """`GET /audits` (organization_id, since, limit, offset), newest first."""
        return await self._typed(list[AuditEntry], 200, "GET", "/audits", params=params)

    # --- provisioning ----------------------------------------------------------------------

    async def tenant_record(self, tenant_id: str) -> TenantRecord:
        return await self._typed(TenantRecord, 200, "GET", f"/tenants/{tenant_id}")

    # --- flags -----------------------------------------------------------------------------

    async def flags(self) -> list[FlagState]:
        return await self._typed(list[FlagState], 200, "GET", "/flags")

    async def flag(self, name: str, *, user_id: str | None = None) -> FlagState:
        params = {"user_id": user_id} if user_id is not None else None
        return await self._typed(FlagState, 200, "GET", f"/flags/{name}", params=params)

    # --- profiles --------------------------------------------------------------------------

    async def my_profile(self) -> Profile:
        return await self._typed(Profile, 200, "GET", "/profiles/me")

    async def profile(self, user_id: str) -> Profile:
        return await self._typed(Profile, 200, "GET", f"/profiles/{user_id}")

    async def change_profile(self, user_id: str, **fields: str | None) -> Profile:
        """`PATCH /profiles/{user_id}`: first_name, last_name, display_name, phone_number,
        timezone; those left out stay as they are, None clears."""
        return await self._typed(Profile, 200, "PATCH", f"/profiles/{user_id}", json=fields)

    async def change_contact(self, user_id: str, **address: str | None) -> Profile:
        """`PATCH /profiles/{user_id}/contact`: line1, line2, city, state, country_code, zip."""
        path = f"/profiles/{user_id}/contact"
        return await self._typed(Profile, 200, "PATCH", path, json=address)

    @staticmethod
    def avatar_form(
        content: bytes, filename: str = "avatar.png", content_type: str = "image/png"
    ) -> aiohttp.FormData:
        """The body of `PUT /profiles/{user_id}/avatar`: the image in the field `file`."""
        form = aiohttp.FormData()
        form.add_field("file", content, filename=filename, content_type=content_type)
        return form

    async def upload_avatar(self, user_id: str, content: bytes, **file: str) -> Profile:
        form = self.avatar_form(content, **file)
        return await self._typed(Profile, 200, "PUT", f"/profiles/{user_id}/avatar", data=form)

    async def remove_avatar(self, user_id: str) -> Profile:
        return await self._typed(Profile, 200, "DELETE", f"/profiles/{user_id}/avatar")

    # --- recording -------------------------------------------------------------------------

    async def record(self, what: str, body: Mapping[str, Any]) -> Recorded:
        """`POST /record/<what>` (measure, use, crash, trace, pageview): accepted, 202."""
        return await self._typed(Recorded, 202, "POST", f"/record/{what}", json=body)


class AuditEntry(Published):
    id: str
    organization_id: str | None
    actor_id: str | None
    action: str
    target: str
    outcome: Literal["succeeded", "refused", "failed"]
    detail: str | None
    occurred_at: datetime
    correlation_id: str


class TenantRecord(Published):
    id: str
    name: str
    created_by: str
    timezone: str
    locale: str
    data_region: str
    plan: str
    provisioned_at: datetime


class ContactAddress(Published):
    line1: str
    line2: str | None
    city: str
    state: str | None
    country_code: str
    zip: str | None


class Avatar(Published):
    url: str
    image_id: str | None
    source: Literal["gravatar", "upload"]


class Profile(Published):
    user_id: str
    organization_id: str
    kind: Literal["person", "machine"]
    email: str | None
    first_name: str | None
    last_name: str | None
    display_name: str
    phone_number: str | None
    timezone: str | None
    contact: ContactAddress | None
    avatar: Avatar | None
    avatar_lookup: Literal["pending", "done"] | None
    created_at: datetime
    updated_at: datetime | None


class FlagState(Published):
    name: str
    enabled: bool
    reason: Literal["off", "user_allowed", "tenant_allowed", "in_rollout", "not_in_rollout"]
