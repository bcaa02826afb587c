"""Blob storage: objects of any size written and read in chunks, never held whole.

`BlobStore` is the port; `chassis.blobs.s3` adapts an S3 API server through boto3 (MinIO,
AWS, moto's server in the tests) and `chassis.blobs.directory` a local directory, the
embedded default. `chassis.blobs.store.blob_store(settings)` picks one from `BlobSettings`.

An object is written through an `Upload`: what it was given is invisible until `complete`,
and `abort` leaves nothing behind, so a refused upload (too large, not an image) keeps
nothing partial.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from chassis.errors import NotFound


@dataclass(frozen=True)
class StoredBlob:
    """An object as the store holds it; `etag` is the store's own, opaque."""

    key: str
    size: int
    content_type: str
    etag: str


class BlobNotFound(NotFound):
    def __init__(self, key: str) -> None:
        super().__init__(f"No object {key!r} in the blob store.")
        self.key = key


class Upload(Protocol):
    """One object being written; single use."""

    async def write(self, chunk: bytes) -> None:
        """Add `chunk`; waits while earlier parts are still being sent, so memory stays
        bounded by a part or two whatever the object's size."""
        ...

    async def complete(self) -> StoredBlob:
        """Make the object visible under its key (replacing one there before)."""
        ...

    async def abort(self) -> None:
        """Drop everything written; safe to call after a failure, and more than once."""
        ...


class BlobStore(Protocol):
    async def upload(self, key: str, content_type: str) -> Upload:
        """Begin writing the object `key`."""
        ...

    def read(self, key: str, chunk_bytes: int = 1024 * 1024) -> AsyncIterator[bytes]:
        """The object's bytes in chunks of at most `chunk_bytes`; raises `BlobNotFound` on the
        first step when there is no such object. Close it (`contextlib.aclosing`) when not
        read to the end."""
        ...

    async def head(self, key: str) -> StoredBlob:
        """What is stored under `key`, or `BlobNotFound`."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; nothing happens when there is none."""
        ...
