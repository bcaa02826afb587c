"""Fixtures of the images tests: the use cases on an in-memory unit of work and blob store,
and the service itself on the real MongoDB, RabbitMQ and S3 API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from chassis.blobs import BlobNotFound, StoredBlob
from chassis.storage.unit_of_work import Recording
from images.domain import BlobChore, Chore, Image
from images.main import ImagesSettings, create_app
from images.service import ImageService, ImagesTransaction, integration_events
from testkit.fixtures import TestInfra
from testkit.memory import InMemoryUnitOfWork
from testkit.s3 import S3Bucket
from testkit.stored import Database
from testkit.web import serving

# --- in memory --------------------------------------------------------------------------------


@dataclass
class Gallery:
    images: dict[str, Image] = field(default_factory=dict)
    chores: dict[str, BlobChore] = field(default_factory=dict)


class InMemoryImages:
    def __init__(self, gallery: Gallery, recording: Recording) -> None:
        self._gallery = gallery
        self._recording = recording

    async def add(self, image: Image) -> None:
        self._gallery.images[image.id] = image
        self._recording.track(image)

    async def get(self, image_id: str) -> Image | None:
        image = self._gallery.images.get(image_id)
        if image is None or image.organization_id != self._recording.tenant:
            return None
        self._recording.track(image)
        return image

    async def avatar(self, image_id: str, user_id: str) -> Image | None:
        image = self._gallery.images.get(image_id)
        if image is None or image.avatar_of != user_id:
            return None
        self._recording.track(image)
        return image

    async def save(self, image: Image) -> None:
        self._gallery.images[image.id] = image

    async def remove(self, image: Image) -> None:
        del self._gallery.images[image.id]


class InMemoryChores:
    def __init__(self, gallery: Gallery) -> None:
        self._gallery = gallery

    async def add(self, chore: BlobChore) -> None:
        assert chore.key not in self._gallery.chores
        self._gallery.chores[chore.key] = chore

    async def remove(self, key: str) -> None:
        self._gallery.chores.pop(key, None)


class InMemoryImagesTransaction:
    def __init__(self, gallery: Gallery, recording: Recording) -> None:
        self.images = InMemoryImages(gallery, recording)
        self.chores = InMemoryChores(gallery)


ImagesUoW = InMemoryUnitOfWork[Gallery, ImagesTransaction]


class MemoryUpload:
    def __init__(self, store: MemoryBlobStore, key: str, content_type: str) -> None:
        self._store, self._key, self._content_type = store, key, content_type
        self._parts: list[bytes] = []

    async def write(self, chunk: bytes) -> None:
        self._parts.append(chunk)

    async def complete(self) -> StoredBlob:
        data = b"".join(self._parts)
        self._store.objects[self._key] = (data, self._content_type)
        self._store.open.discard(self._key)
        return StoredBlob(self._key, len(data), self._content_type, str(hash(data)))

    async def abort(self) -> None:
        self._parts.clear()
        self._store.open.discard(self._key)


class MemoryBlobStore:
    """The blob store port over a dict: what is kept, and the uploads begun and not ended."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.open: set[str] = set()

    async def upload(self, key: str, content_type: str) -> MemoryUpload:
        self.open.add(key)
        return MemoryUpload(self, key, content_type)

    async def read(self, key: str, chunk_bytes: int = 1024 * 1024) -> AsyncIterator[bytes]:
        if key not in self.objects:
            raise BlobNotFound(key)
        data = self.objects[key][0]
        for at in range(0, len(data), chunk_bytes):
            yield data[at : at + chunk_bytes]

    async def head(self, key: str) -> StoredBlob:
        if key not in self.objects:
            raise BlobNotFound(key)
        data, content_type = self.objects[key]
        return StoredBlob(key, len(data), content_type, str(hash(data)))

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)


@pytest.fixture
def uow() -> ImagesUoW:
    return InMemoryUnitOfWork(Gallery(), InMemoryImagesTransaction, integration_events)


@pytest.fixture
def store() -> MemoryBlobStore:
    return MemoryBlobStore()


@pytest.fixture
def max_bytes() -> int:
    return 64 * 1024


@pytest.fixture
def images(uow: ImagesUoW, store: MemoryBlobStore, now: datetime, max_bytes: int) -> ImageService:
    """The use cases in memory, their clock stopped at `now`, taking at most `max_bytes`."""

    async def chores_due(uploads_started_before: datetime) -> list[BlobChore]:
        return [
            c
            for c in uow.state.chores.values()
            if c.chore is Chore.DELETING or c.since < uploads_started_before
        ]

    return ImageService(uow, store, chores_due, max_bytes, clock=lambda: now)


# --- on MongoDB, RabbitMQ and the S3 API server ------------------------------------------------


@pytest.fixture(scope="module")
def images_env(test_infra: TestInfra, s3_bucket: S3Bucket) -> dict[str, Any]:
    """The settings of the module's images service: its own database and bucket."""
    return test_infra.env(
        "images",
        **s3_bucket.settings(s3_part_bytes=5 * 1024 * 1024),
        outbox_poll_seconds=0.1,
        blob_sweep_seconds=0.2,
    )


# Module scope: every images instance consumes the one queue per event it hears.
@pytest.fixture(scope="module")
async def images_url(images_env: dict[str, Any]) -> AsyncIterator[str]:
    async with serving(create_app(ImagesSettings(**images_env))) as url:
        yield url


@pytest.fixture
async def images_database(test_infra: TestInfra) -> AsyncIterator[Database]:
    """The images service's own database, to look into."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(test_infra.mongo_url)
    yield client[test_infra.db_name("images")]
    await client.close()
