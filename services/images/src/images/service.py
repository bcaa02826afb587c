"""Use cases of the images service; and what its events tell other services.

An upload is two steps, since a form may send its file before or after its other fields:
`receive` streams the file to the blob store, checked as it comes, and `keep` records the
image (or `discard` drops the bytes). Nothing is left half-written by a crash: a record of
the blob comes first (a `BlobChore`), in its own write, and the image's transaction removes
it; the `sweep` deletes the blobs of uploads that never finished, and of images deleted whose
blob is still there.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Protocol

from chassis.blobs import BlobStore
from chassis.blobs.store import reading
from chassis.clock import Clock, utc_now
from chassis.logging import get_logger
from chassis.messaging.subscriptions import TenantEventContext
from chassis.records import told
from chassis.storage.unit_of_work import UnitOfWork
from contracts import IntegrationEvent
from contracts import images as published
from contracts.profiles import AvatarChanged, AvatarRemoved
from images.domain import (
    Actor,
    BlobChore,
    Chore,
    Content,
    EmptyFile,
    Image,
    ImageDeleted,
    ImageDescribed,
    ImageNotFound,
    ImageUploaded,
    TooLarge,
    blob_key,
    may_upload_as_avatar,
    new_image_id,
)
from images.formats import SNIFF_BYTES, Validator, sniff
from images.repository import BlobChores, ImageRepository

log = get_logger(__name__)

# An upload still unfinished this long after it started was cut off (its process stopped).
ABANDONED_AFTER = timedelta(hours=1)

# Blob chores due (the sweep's read, of every tenant): deletions, and uploads started before
# the moment given.
ChoresDue = Callable[[datetime], Awaitable[list[BlobChore]]]


class ImagesTransaction(Protocol):
    @property
    def images(self) -> ImageRepository: ...

    @property
    def chores(self) -> BlobChores: ...


class ImageService:
    def __init__(
        self,
        uow: UnitOfWork[ImagesTransaction],
        store: BlobStore,
        chores_due: ChoresDue,
        max_bytes: int,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self._store = store
        self._chores_due = chores_due
        self._max_bytes = max_bytes
        self._clock = clock

    async def receive(
        self, actor: Actor, content: AsyncIterator[bytes], avatar_of: str | None = None
    ) -> Content:
        """Stream `content` to the store under a new key: its kind read from its first bytes
        (NotAnImage), its structure checked as it passes (BrokenImage), refused the moment it
        is over the size allowed (TooLarge). When refused, nothing of it is kept."""
        if avatar_of is not None:
            may_upload_as_avatar(actor, avatar_of)
        head = b""
        async for piece in content:
            head += piece
            if len(head) >= SNIFF_BYTES:
                break
        if not head:
            raise EmptyFile()
        kind = sniff(head[:SNIFF_BYTES])
        image_id = new_image_id()
        key = blob_key(actor.tenant_id, image_id)
        await self._record_chore(BlobChore(key, actor.tenant_id, Chore.UPLOADING, self._clock()))
        upload = await self._store.upload(key, kind.value)
        validator, digest, size = Validator(kind), hashlib.sha256(), 0
        try:
            chunk: bytes | None = head
            while chunk is not None:
                size += len(chunk)
                if size > self._max_bytes:
                    raise TooLarge(self._max_bytes)
                validator.feed(chunk)
                digest.update(chunk)
                await upload.write(chunk)
                chunk = await anext(content, None)
            validator.finish()
            await upload.complete()
        except BaseException:
            await upload.abort()
            await self._forget_chore(key, actor.tenant_id)
            raise
        return Content(image_id, actor.tenant_id, kind, size, digest.hexdigest())

    async def keep(
        self,
        actor: Actor,
        content: Content,
        description: str,
        filename: str | None,
        avatar_of: str | None = None,
    ) -> Image:
        """Record the image of content received; its blob is discarded if that fails."""

        async def work(tx: ImagesTransaction) -> Image:
            image = Image.upload(actor, content, description, filename, avatar_of, self._clock())
            await tx.images.add(image)
            await tx.chores.remove(content.key)
            return image

        try:
            return await self._uow.run(work, tenant_id=actor.tenant_id, actor_id=actor.user_id)
        except BaseException:
            await self.discard(content)
            raise

    async def discard(self, content: Content) -> None:
        """Drop the blob of content received that will not be kept."""
        await self._delete_blob(content.key, content.tenant_id)

    def reading(
        self, image: Image, chunk_bytes: int
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """The image's bytes from the store, let go at the end of the block however far they
        were read; BlobNotFound on the first step if they are gone."""
        return reading(self._store, image.key, chunk_bytes)

    async def describe(self, actor: Actor, image_id: str, description: str) -> Image:
        async def work(tx: ImagesTransaction) -> Image:
            image = await _get(tx, image_id)
            image.describe(actor, description)
            await tx.images.save(image)
            return image

        return await self._uow.run(work, tenant_id=actor.tenant_id, actor_id=actor.user_id)

    async def delete(self, actor: Actor, image_id: str) -> None:
        """The image goes with its blob: the record of the blob to delete is written with the
        image's deletion, so a crash before the blob goes leaves it to the sweep."""

        async def work(tx: ImagesTransaction) -> str:
            image = await _get(tx, image_id)
            image.delete(actor)
            await self._remove(tx, image)
            return image.key

        key = await self._uow.run(work, tenant_id=actor.tenant_id, actor_id=actor.user_id)
        await self._delete_blob(key, actor.tenant_id)

    async def avatar_changed(
        self, tx: ImagesTransaction, event: AvatarChanged, _: TenantEventContext
    ) -> None:
        if event.previous_image_id is not None and event.previous_image_id != event.image_id:
            await self._drop_avatar(tx, event.previous_image_id, event.user_id)

    async def avatar_removed(
        self, tx: ImagesTransaction, event: AvatarRemoved, _: TenantEventContext
    ) -> None:
        if event.image_id is not None:
            await self._drop_avatar(tx, event.image_id, event.user_id)

    async def sweep(self) -> None:
        """Delete the blobs of images deleted and of uploads cut off, and their records."""
        for chore in await self._chores_due(self._clock() - ABANDONED_AFTER):
            log.info("images.blob_swept", key=chore.key, chore=chore.chore.value)
            await self._delete_blob(chore.key, chore.tenant_id)

    async def _drop_avatar(self, tx: ImagesTransaction, image_id: str, user_id: str) -> None:
        """Delete the image if it is `user_id`'s avatar (gone already: nothing to do); its
        blob is left to the sweep, after this batch of events commits."""
        image = await tx.images.avatar(image_id, user_id)
        if image is None:
            return
        image.delete(None)
        await self._remove(tx, image)

    async def _remove(self, tx: ImagesTransaction, image: Image) -> None:
        await tx.images.remove(image)
        chore = BlobChore(image.key, image.organization_id, Chore.DELETING, self._clock())
        await tx.chores.add(chore)

    async def _record_chore(self, chore: BlobChore) -> None:
        async def work(tx: ImagesTransaction) -> None:
            await tx.chores.add(chore)

        await self._uow.run(work, tenant_id=chore.tenant_id)

    async def _forget_chore(self, key: str, tenant_id: str) -> None:
        async def work(tx: ImagesTransaction) -> None:
            await tx.chores.remove(key)

        await self._uow.run(work, tenant_id=tenant_id)

    async def _delete_blob(self, key: str, tenant_id: str) -> None:
        await self._store.delete(key)
        await self._forget_chore(key, tenant_id)


async def _get(tx: ImagesTransaction, image_id: str) -> Image:
    image = await tx.images.get(image_id)
    if image is None:
        raise ImageNotFound(image_id)
    return image


def integration_events(event: object) -> Iterator[IntegrationEvent]:
    """What the other services are told of each thing that happens to an image, with its
    audit record and, for an upload, its usage record."""
    match event:
        case ImageUploaded(image):
            yield from told(
                published.ImageUploaded(
                    image_id=image.id,
                    content_type=published.ImageType(image.kind.value),
                    size=image.size,
                    uploaded_by=image.uploaded_by,
                    avatar_of=image.avatar_of,
                ),
                target=f"image:{image.id}",
                usage={"bytes": image.size, "content_type": image.kind.value},
            )
        case ImageDescribed(image_id):
            yield from told(published.ImageDescribed(image_id=image_id), target=f"image:{image_id}")
        case ImageDeleted(image_id, avatar_of):
            yield from told(
                published.ImageDeleted(image_id=image_id, avatar_of=avatar_of),
                target=f"image:{image_id}",
            )
        case _:
            raise TypeError(f"no integration event for {event!r}")
