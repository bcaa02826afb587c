"""The blob store a service's settings name, as a part of the service.

    blobs = blob_store(settings)          # BlobSettings: directory or S3
    app = service_app(settings, routes, [mongo, bus, blobs])
    stored = await put(blobs, key, request_chunks, "image/png")
    async with reading(blobs, key) as chunks:   # closed even when not read to the end
        async for chunk in chunks: ...

As a part it makes sure of its bucket (or directory) at start, reports on it in `/health`
(`blobs`), and lets its threads go at stop.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from chassis.blobs import BlobStore, StoredBlob
from chassis.blobs.directory import DirectoryBlobStore
from chassis.blobs.s3 import S3BlobStore
from chassis.config import BlobSettings
from chassis.parts import Part


class BlobStorePart(BlobStore, Part, Protocol):
    """A blob store that is also the part of the service running it."""


def blob_store(settings: BlobSettings) -> BlobStorePart:
    if settings.blob_store == "s3":
        return S3BlobStore.of(settings)
    return DirectoryBlobStore(settings.blob_dir, settings.bucket_name)


async def put(
    store: BlobStore, key: str, chunks: AsyncIterable[bytes], content_type: str
) -> StoredBlob:
    """Store `chunks` as the object `key`; on any failure, the source's included, nothing is
    kept and the failure goes on."""
    upload = await store.upload(key, content_type)
    try:
        async for chunk in chunks:
            await upload.write(chunk)
        return await upload.complete()
    except BaseException:
        await upload.abort()
        raise


@asynccontextmanager
async def reading(
    store: BlobStore, key: str, chunk_bytes: int = 1024 * 1024
) -> AsyncIterator[AsyncIterator[bytes]]:
    """`store.read(key, chunk_bytes)`, closed at the end of the block however far it was read
    (a download whose client went away), which lets its file or connection go at once."""
    chunks = store.read(key, chunk_bytes)
    try:
        yield chunks
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
