"""Images' records in MongoDB: the images, and the blobs that may have to be deleted (uploads
not finished, images deleted). The repositories a transaction holds, the queries that read
outside one; one mapping each way between documents and the domain."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pymongo import ASCENDING, IndexModel

from chassis.storage.documents import Document
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import Scope
from images.domain import BlobChore, Chore, Image
from images.formats import ImageKind

IMAGES = "images"
CHORES = "blob_chores"

INDEXES = {
    IMAGES: [IndexModel([("tenant_id", ASCENDING), ("created_utc", ASCENDING)])],
    CHORES: [IndexModel([("chore", ASCENDING), ("since", ASCENDING)])],
}


class ImageRepository(Protocol):
    """The tenant's images, as the unit of work's tenant sees them."""

    async def add(self, image: Image) -> None: ...

    async def get(self, image_id: str) -> Image | None: ...

    async def avatar(self, image_id: str, user_id: str) -> Image | None:
        """The image if it is `user_id`'s avatar, whichever organization holds it: a user
        uploads their avatar for the organization they act for, which need not be the one
        their profile (and its events) belongs to."""
        ...

    async def save(self, image: Image) -> None: ...

    async def remove(self, image: Image) -> None: ...


class BlobChores(Protocol):
    async def add(self, chore: BlobChore) -> None: ...

    async def remove(self, key: str) -> None: ...


class MongoImages:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._images = scope.collection(IMAGES)

    async def add(self, image: Image) -> None:
        await self._images.insert_one(image_document(image))
        self._scope.track(image)

    async def get(self, image_id: str) -> Image | None:
        doc = await self._images.find_one({"_id": image_id, "tenant_id": self._scope.tenant})
        if doc is None:
            return None
        image = image_from(doc)
        self._scope.track(image)
        return image

    async def avatar(self, image_id: str, user_id: str) -> Image | None:
        doc = await self._images.find_one({"_id": image_id, "avatar_of": user_id})
        if doc is None:
            return None
        image = image_from(doc)
        self._scope.track(image)
        return image

    async def save(self, image: Image) -> None:
        await self._images.update_one(
            {"_id": image.id, "tenant_id": image.organization_id},
            {"$set": {"description": image.description}},
        )

    async def remove(self, image: Image) -> None:
        await self._images.delete_one({"_id": image.id, "tenant_id": image.organization_id})


class MongoBlobChores:
    def __init__(self, scope: Scope) -> None:
        self._chores = scope.collection(CHORES)

    async def add(self, chore: BlobChore) -> None:
        await self._chores.insert_one(chore_document(chore))

    async def remove(self, key: str) -> None:
        await self._chores.delete_one({"_id": key})


class MongoImagesTransaction:
    def __init__(self, scope: Scope) -> None:
        self.images = MongoImages(scope)
        self.chores = MongoBlobChores(scope)


class ImageQueries:
    """Reads that need no transaction."""

    def __init__(self, mongo: Mongo) -> None:
        self._images = mongo.reader(IMAGES)
        self._chores = mongo.reader(CHORES)

    async def image(self, image_id: str) -> Image | None:
        """The image, whoever's it is: the caller decides who may see it."""
        doc = await self._images.find_one({"_id": image_id})
        return image_from(doc) if doc else None

    async def chores_due(
        self, uploads_started_before: datetime, limit: int = 100
    ) -> list[BlobChore]:
        """Of every tenant: blobs of images deleted, and of uploads started before the moment
        and never finished (their process stopped midway)."""
        due = {
            "$or": [
                {"chore": Chore.DELETING.value},
                {"chore": Chore.UPLOADING.value, "since": {"$lt": uploads_started_before}},
            ]
        }
        return [chore_from(d) async for d in self._chores.find(due).sort("since").limit(limit)]


# --- documents <-> domain ---------------------------------------------------------------------


def image_document(image: Image) -> Document:
    return {
        "_id": image.id,
        "tenant_id": image.organization_id,
        "content_type": image.kind.value,
        "size": image.size,
        "sha256": image.sha256,
        "description": image.description,
        "filename": image.filename,
        "uploaded_by": image.uploaded_by,
        "avatar_of": image.avatar_of,
        "created_utc": image.created_utc,
    }


def image_from(doc: Document) -> Image:
    return Image(
        doc["_id"],
        doc["tenant_id"],
        ImageKind(doc["content_type"]),
        doc["size"],
        doc["sha256"],
        doc["description"],
        doc["filename"],
        doc["uploaded_by"],
        doc["avatar_of"],
        doc["created_utc"],
    )


def chore_document(chore: BlobChore) -> Document:
    return {
        "_id": chore.key,
        "tenant_id": chore.tenant_id,
        "chore": chore.chore.value,
        "since": chore.since,
    }


def chore_from(doc: Document) -> BlobChore:
    return BlobChore(doc["_id"], doc["tenant_id"], Chore(doc["chore"]), doc["since"])
