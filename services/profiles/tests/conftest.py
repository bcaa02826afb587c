"""Fixtures of the profiles tests: the use cases on an in-memory unit of work with stand-ins
for Gravatar and images (no MongoDB, no RabbitMQ, no HTTP), and the service itself on the
real ones, with the Gravatar simulator served for real."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from aiohttp import BodyPartReader, web
from pymongo import AsyncMongoClient

from chassis.errors import Unavailable
from chassis.storage.unit_of_work import Recording
from profiles.domain import Profile
from profiles.main import ProfilesSettings, create_app
from profiles.service import (
    ProfileService,
    ProfilesTransaction,
    Upload,
    UploadedImage,
    integration_events,
)
from testkit.fixtures import TestInfra
from testkit.gravatar import GravatarSimulator, served_simulator
from testkit.memory import InMemoryUnitOfWork
from testkit.stored import Database
from testkit.web import serving

# --- in memory --------------------------------------------------------------------------------


@dataclass
class Profiles:
    profiles: dict[str, Profile] = field(default_factory=dict)


class InMemoryProfiles:
    def __init__(self, state: Profiles, recording: Recording) -> None:
        self._state = state
        self._recording = recording

    def _tracked(self, profile: Profile | None) -> Profile | None:
        if profile is not None:
            self._recording.track(profile)
        return profile

    async def exists(self, user_id: str) -> bool:
        return user_id in self._state.profiles

    async def add(self, profile: Profile) -> None:
        if profile.user_id in self._state.profiles:
            raise AssertionError(f"profile {profile.user_id} added twice")  # a duplicate key
        self._state.profiles[profile.user_id] = profile
        self._recording.track(profile)

    async def get(self, user_id: str) -> Profile | None:
        profile = self._state.profiles.get(user_id)
        if profile is None or profile.tenant_id != self._recording.tenant:
            return None
        return self._tracked(profile)

    async def showing_image(self, image_id: str) -> Profile | None:
        shown = (
            p for p in self._state.profiles.values() if p.avatar and p.avatar.image_id == image_id
        )
        return self._tracked(next(shown, None))

    async def save(self, profile: Profile) -> None:
        self._state.profiles[profile.user_id] = profile


class InMemoryProfilesTransaction:
    def __init__(self, state: Profiles, recording: Recording) -> None:
        self.profiles = InMemoryProfiles(state, recording)


ProfilesUoW = InMemoryUnitOfWork[Profiles, ProfilesTransaction]


class StoredProfiles:
    """The reads outside a transaction, of what the unit of work committed."""

    def __init__(self, uow: ProfilesUoW) -> None:
        self._uow = uow

    async def profile(self, user_id: str) -> Profile | None:
        return self._uow.state.profiles.get(user_id)


class FakeFinder:
    """Gravatar as a table: the avatar URL of each address that has one."""

    def __init__(self) -> None:
        self.avatars: dict[str, str] = {}
        self.asked: list[str] = []
        self.down = False

    async def find(self, email: str) -> str | None:
        self.asked.append(email)
        if self.down:
            raise Unavailable("Gravatar is down")
        return self.avatars.get(email)


@dataclass
class Stored:
    user_id: str
    content: bytes
    filename: str | None
    content_type: str | None
    authorization: str


class FakeImages:
    """Images as a table of what was uploaded (read to the end, as images reads it) and
    deleted."""

    def __init__(self) -> None:
        self.images: dict[str, Stored] = {}
        self.deleted: list[str] = []

    async def upload(self, user_id: str, upload: Upload, authorization: str) -> UploadedImage:
        content = b"".join([chunk async for chunk in upload.chunks])
        image_id = uuid.uuid4().hex
        self.images[image_id] = Stored(
            user_id, content, upload.filename, upload.content_type, authorization
        )
        return UploadedImage(image_id, f"/images/{image_id}/download")

    async def delete(self, image_id: str, authorization: str) -> None:
        self.deleted.append(image_id)


@pytest.fixture
def uow() -> ProfilesUoW:
    return InMemoryUnitOfWork(Profiles(), InMemoryProfilesTransaction, integration_events)


@pytest.fixture
def finder() -> FakeFinder:
    return FakeFinder()


@pytest.fixture
def images() -> FakeImages:
    return FakeImages()


@pytest.fixture
def profiles(
    uow: ProfilesUoW, finder: FakeFinder, images: FakeImages, now: datetime
) -> ProfileService:
    """The use cases on the in-memory unit of work, their clock stopped at `now`."""
    return ProfileService(uow, StoredProfiles(uow), finder, images, clock=lambda: now)


# --- images, as a stand-in speaking its contract --------------------------------------------


MB = 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n"
MAX_BYTES = 12 * MB


def problem(status: int, detail: str, **extra: Any) -> web.Response:
    body = {"type": "about:blank", "title": "Refused", "status": status, "detail": detail, **extra}
    return web.json_response(body, status=status, content_type="application/problem+json")


@dataclass
class Images:
    """A stand-in of the images service, reading uploads as images does (multipart:
    description, avatar_of, then file, streamed). What it would store: each upload's form
    fields, size and digest (the bytes are hashed as they come, never kept), the headers it
    came with; what was deleted. `callers`: the user each Authorization header stands for,
    who may upload only their own avatar; other headers are 401."""

    callers: dict[str, str] = field(default_factory=dict)
    received: int = 0
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    fail_with: int | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [web.post("/images", self._upload), web.delete("/images/{id}", self._delete)]
        )
        return app

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        if self.fail_with is not None:
            return web.Response(status=self.fail_with, text="images broke")
        caller = self.callers.get(request.headers.get("Authorization", ""))
        if caller is None:
            return problem(401, "Sign in: this route needs a bearer token.")
        reader = await request.multipart()
        fields: dict[str, str] = {}
        for name in ("description", "avatar_of"):
            part = await reader.next()
            assert isinstance(part, BodyPartReader) and part.name == name, part
            fields[name] = await part.text()
        if fields["avatar_of"] != caller:
            return problem(403, "Only the user themself or an operator sets their avatar.")
        if not 1 <= len(fields["description"]) <= 250:
            errors = [{"field": "description", "message": "1 to 250 characters"}]
            return problem(422, "The request body is not valid.", errors=errors)
        part = await reader.next()
        assert isinstance(part, BodyPartReader) and part.name == "file", part
        digest, size, head = hashlib.sha256(), 0, b""
        self.received = 0
        while chunk := await part.read_chunk(256 * 1024):
            head = (head + chunk)[:8] if len(head) < 8 else head
            digest.update(chunk)
            size += len(chunk)
            self.received = size
            if size > MAX_BYTES:
                return problem(413, f"An image may be at most {MAX_BYTES} bytes.")
        if head != PNG:
            return problem(415, "The file is not a jpeg, png or gif image.")
        image_id = uuid.uuid4().hex
        self.stored[image_id] = {
            **fields,
            "size": size,
            "sha256": digest.hexdigest(),
            "filename": part.filename,
            "content_type": part.headers.get("Content-Type"),
            "headers": request.headers.copy(),
        }
        body = {
            "id": image_id,
            "content_type": "image/png",
            "size": size,
            "description": fields["description"],
            "urls": {"download": f"/images/{image_id}/download", "self": f"/images/{image_id}"},
        }
        return web.json_response(body, status=201)

    async def _delete(self, request: web.Request) -> web.Response:
        image_id = request.match_info["id"]
        if image_id not in self.stored:
            return problem(404, f"there is no image {image_id}")
        self.deleted.append(image_id)
        del self.stored[image_id]
        return web.Response(status=204)


# --- on MongoDB and RabbitMQ ------------------------------------------------------------------


SERVICE_SETTINGS = {"retry_delay_ms": 100, "max_delivery_attempts": 3, "outbox_poll_seconds": 0.1}


@pytest.fixture(scope="module")
async def gravatar() -> AsyncIterator[GravatarSimulator]:
    async with served_simulator() as simulator:
        yield simulator


@dataclass
class ImagesServed:
    service: Images
    url: str


@pytest.fixture(scope="module")
async def images_served() -> AsyncIterator[ImagesServed]:
    service = Images()
    async with serving(service.app()) as url:
        yield ImagesServed(service, url)


@pytest.fixture(scope="module")
async def settings(
    test_infra: TestInfra, gravatar: GravatarSimulator, images_served: ImagesServed
) -> ProfilesSettings:
    return ProfilesSettings(
        **test_infra.env(
            "profiles",
            gravatar_url=gravatar.url,
            gravatar_timeout_seconds=1.0,
            images_url=images_served.url,
            **SERVICE_SETTINGS,
        )
    )


# Module scope: an instance left running would keep consuming the service's queues.
@pytest.fixture(scope="module")
async def profiles_url(settings: ProfilesSettings) -> AsyncIterator[str]:
    async with serving(create_app(settings)) as url:
        yield url


@pytest.fixture
async def database(settings: ProfilesSettings) -> AsyncIterator[Database]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_url)
    yield client[settings.database_name]
    await client.close()
