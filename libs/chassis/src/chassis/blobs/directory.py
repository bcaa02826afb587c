"""The blob store in a local directory: the embedded default (`make run`, one machine).

An object is the file `root/bucket/<key>`, so a person can open it; what S3 keeps beside an
object (content type, size, etag) is a small JSON file under `root/bucket/.meta/`. An upload
is written to a file under `root/bucket/.uploads/` (the same filesystem) and moved into place
by `os.replace` on complete: a reader sees the old object or the new one, never half of one.
Key segments may not start with a dot, so no key reaches those two directories.

File I/O runs on threads (asyncio's default executor), never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import stat
import uuid
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import IO

from chassis.blobs import BlobNotFound, StoredBlob
from chassis.errors import RuleViolation
from chassis.logging import get_logger
from chassis.parts import Check

log = get_logger(__name__)

MAX_KEY_LENGTH = 1024
_SEGMENT = re.compile(r"[A-Za-z0-9_=+@-][A-Za-z0-9._=+@-]{0,254}")
META = ".meta"
UPLOADS = ".uploads"


def check_key(key: str) -> str:
    """`key` when it names a file under the bucket: relative, `/`-separated segments of
    letters, digits and `._=+@-`, none empty, none starting with a dot."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise RuleViolation(f"A blob key has 1 to {MAX_KEY_LENGTH} characters; got {len(key)}.")
    for segment in key.split("/"):
        if not _SEGMENT.fullmatch(segment):
            raise RuleViolation(
                f"Blob key {key!r}: each '/'-separated part is 1 to 255 letters, digits or "
                f"'._=+@-', not starting with a dot; {segment!r} is not."
            )
    return key


class DirectoryBlobStore:
    def __init__(self, root: Path, bucket: str) -> None:
        self.bucket = check_key(bucket)
        self.path = Path(root) / bucket

    def object_path(self, key: str) -> Path:
        return self.path / check_key(key)

    def meta_path(self, key: str) -> Path:
        return self.path / META / f"{check_key(key)}.json"

    def uploads_path(self) -> Path:
        return self.path / UPLOADS

    async def upload(self, key: str, content_type: str) -> DirectoryUpload:
        check_key(key)
        temporary = self.uploads_path() / uuid.uuid4().hex
        file = await asyncio.to_thread(_open_new, temporary)
        return DirectoryUpload(self, key, content_type, temporary, file)

    async def read(self, key: str, chunk_bytes: int = 1024 * 1024) -> AsyncGenerator[bytes, None]:
        path = self.object_path(key)
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise BlobNotFound(key) from None
        try:
            while chunk := await asyncio.to_thread(file.read, chunk_bytes):
                yield chunk
        finally:
            file.close()

    async def head(self, key: str) -> StoredBlob:
        return await asyncio.to_thread(self._head, key)

    def _head(self, key: str) -> StoredBlob:
        try:
            # The object's own size: the sidecar may be a moment behind a replaced object.
            found = self.object_path(key).stat()
            meta = json.loads(self.meta_path(key).read_bytes())
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFound(key) from None
        if not stat.S_ISREG(found.st_mode):
            raise BlobNotFound(key)
        return StoredBlob(key, found.st_size, meta["content_type"], meta["etag"])

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    def _delete(self, key: str) -> None:
        # The object first: without it, a sidecar left by a crash names nothing.
        for path in (self.object_path(key), self.meta_path(key)):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
                path.unlink()

    async def start(self) -> None:
        await asyncio.to_thread(self.uploads_path().mkdir, parents=True, exist_ok=True)
        log.info("blobs.directory", path=str(self.path))

    async def ping(self) -> None:
        if not await asyncio.to_thread(self.path.is_dir):
            raise FileNotFoundError(f"The blob directory {self.path} is gone.")

    async def stop(self) -> None:
        """Nothing to let go: files are opened per read and per upload."""

    def checks(self) -> Mapping[str, Check]:
        return {"blobs": self.ping}


class DirectoryUpload:
    def __init__(
        self,
        store: DirectoryBlobStore,
        key: str,
        content_type: str,
        temporary: Path,
        file: IO[bytes],
    ) -> None:
        self._store = store
        self._key = key
        self._content_type = content_type
        self._temporary = temporary
        self._file = file
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._size = 0
        self._finished = False

    async def write(self, chunk: bytes) -> None:
        if self._finished:
            raise RuntimeError(f"The upload of {self._key!r} is already completed or aborted.")
        await asyncio.to_thread(self._write, chunk)

    def _write(self, chunk: bytes) -> None:
        self._md5.update(chunk)
        self._file.write(chunk)
        self._size += len(chunk)

    async def complete(self) -> StoredBlob:
        if self._finished:
            raise RuntimeError(f"The upload of {self._key!r} is already completed or aborted.")
        self._finished = True
        try:
            stored = await asyncio.to_thread(self._complete)
        except BaseException:
            await asyncio.to_thread(self._discard)
            raise
        log.info("blobs.stored", key=self._key, size=self._size)
        return stored

    def _complete(self) -> StoredBlob:
        self._file.close()
        stored = StoredBlob(self._key, self._size, self._content_type, self._md5.hexdigest())
        meta = {"content_type": stored.content_type, "size": stored.size, "etag": stored.etag}
        meta_temporary = self._temporary.with_suffix(".json")
        meta_temporary.write_text(json.dumps(meta))
        target, meta_target = self._store.object_path(self._key), self._store.meta_path(self._key)
        # A file cannot be a directory too, as an S3 key can be the start of others.
        clash = RuleViolation(f"Blob key {self._key!r} overlaps other objects' keys here.")
        if target.is_dir():
            raise clash
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            meta_target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise clash from None
        # The sidecar first: an object is never there without one.
        os.replace(meta_temporary, meta_target)
        os.replace(self._temporary, target)
        return stored

    async def abort(self) -> None:
        self._finished = True
        await asyncio.to_thread(self._discard)

    def _discard(self) -> None:
        self._file.close()
        for path in (self._temporary, self._temporary.with_suffix(".json")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _open_new(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("xb")
