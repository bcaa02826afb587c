"""The blob store's contract, held by both adapters: a local directory, and an S3 API server
(moto's, as its own process) through boto3. What is left behind is checked from outside the
store: the files under the directory, or the bucket as boto3 lists it."""

from __future__ import annotations

import hashlib
import os
import random
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

import pytest

from chassis.blobs import BlobNotFound, BlobStore
from chassis.blobs.directory import DirectoryBlobStore
from chassis.blobs.s3 import S3BlobStore
from chassis.blobs.store import blob_store, put, reading
from chassis.config import MIB, BlobSettings
from chassis.errors import RuleViolation, Unavailable
from devstack.system import free_ports
from testkit.s3 import S3Bucket

PART = 5 * MIB  # S3's smallest part: the most parts for the bytes sent


@dataclass
class Backend:
    store: DirectoryBlobStore | S3BlobStore
    # What the backing storage holds apart from finished objects, read from outside the store:
    # temporary files, or multipart uploads still open.
    unfinished: Callable[[], list[str]]
    # The keys of the objects the backing storage holds.
    stored_keys: Callable[[], list[str]]


def files(under: Path) -> list[str]:
    return sorted(str(p.relative_to(under)) for p in under.rglob("*") if p.is_file())


def _directory(root: Path) -> Backend:
    store = DirectoryBlobStore(root, "things")
    return Backend(
        store,
        unfinished=lambda: files(store.uploads_path()),
        stored_keys=lambda: [f for f in files(store.path) if not f.startswith(".")],
    )


def _s3(bucket: S3Bucket) -> Backend:
    settings = BlobSettings(service_name="blobs", **bucket.settings(s3_part_bytes=PART))
    return Backend(
        S3BlobStore.of(settings),
        unfinished=lambda: [f"upload {n}" for n in range(bucket.open_uploads())],
        stored_keys=bucket.keys,
    )


@pytest.fixture(params=["directory", "s3"])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, s3_bucket: S3Bucket
) -> AsyncIterator[Backend]:
    made = _directory(tmp_path) if request.param == "directory" else _s3(s3_bucket)
    await made.store.start()
    # The module's tests share the bucket: each starts with it empty.
    for key in made.stored_keys():
        await made.store.delete(key)
    yield made
    await made.store.stop()


def chunked(data: bytes, sizes: Iterator[int]) -> Iterator[bytes]:
    at = 0
    while at < len(data):
        size = next(sizes)
        yield data[at : at + size]
        at += size


async def write(store: BlobStore, key: str, data: bytes, chunk: int = 777_777) -> None:
    upload = await store.upload(key, "application/octet-stream")
    for piece in chunked(data, iter(lambda: chunk, None)):
        await upload.write(piece)
    await upload.complete()


async def read_all(store: BlobStore, key: str, chunk_bytes: int = MIB) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, chunk_bytes)])


async def test_an_object_of_several_parts_comes_back_byte_for_byte(backend: Backend) -> None:
    data = random.randbytes(20 * MIB + 12345)
    sizes = iter(lambda: random.randint(1, 3 * MIB), None)
    upload = await backend.store.upload("lists/a.csv", "text/csv")
    for piece in chunked(data, sizes):
        await upload.write(piece)
    stored = await upload.complete()

    assert (stored.key, stored.size, stored.content_type) == ("lists/a.csv", len(data), "text/csv")
    chunks = [chunk async for chunk in backend.store.read("lists/a.csv", chunk_bytes=MIB)]
    assert b"".join(chunks) == data
    assert max(len(chunk) for chunk in chunks) == MIB
    assert await backend.store.head("lists/a.csv") == stored
    assert backend.stored_keys() == ["lists/a.csv"]
    assert backend.unfinished() == []


async def test_a_small_object_and_an_empty_one(backend: Backend) -> None:
    small = os.urandom(1000)
    stored = await put(backend.store, "small.png", _source([small[:10], small[10:]]), "image/png")
    empty = await put(backend.store, "empty", _source([]), "text/plain")

    assert await read_all(backend.store, "small.png") == small
    assert await read_all(backend.store, "empty") == b""
    # Sent whole: both stores' etag is then the content's MD5.
    assert stored.etag == hashlib.md5(small).hexdigest()
    assert (empty.size, empty.etag) == (0, hashlib.md5(b"").hexdigest())
    assert await backend.store.head("empty") == empty
    assert backend.stored_keys() == ["empty", "small.png"]


async def test_writing_a_key_again_replaces_the_object(backend: Backend) -> None:
    await write(backend.store, "k", os.urandom(6 * MIB))
    second = os.urandom(300)
    await put(backend.store, "k", _source([second]), "image/gif")

    assert await read_all(backend.store, "k") == second
    head = await backend.store.head("k")
    assert (head.size, head.content_type) == (300, "image/gif")


async def test_a_missing_object(backend: Backend) -> None:
    reading = backend.store.read("nothing/here")
    with pytest.raises(BlobNotFound) as raised:
        await anext(reading)
    assert raised.value.key == "nothing/here"
    with pytest.raises(BlobNotFound):
        await backend.store.head("nothing/here")


async def test_a_read_closed_early_leaves_the_store_working(backend: Backend) -> None:
    data = os.urandom(12 * MIB)
    await write(backend.store, "big", data)
    for _ in range(3):
        async with aclosing(backend.store.read("big", chunk_bytes=64 * 1024)) as chunks:
            assert await anext(chunks) == data[: 64 * 1024]
    async with reading(backend.store, "big", chunk_bytes=MIB) as chunks:
        assert len(await anext(chunks)) == MIB
    assert await read_all(backend.store, "big") == data


async def test_delete_is_idempotent(backend: Backend) -> None:
    await write(backend.store, "gone", b"bytes")
    await backend.store.delete("gone")
    await backend.store.delete("gone")

    with pytest.raises(BlobNotFound):
        await backend.store.head("gone")
    with pytest.raises(BlobNotFound):
        await read_all(backend.store, "gone")
    assert backend.stored_keys() == []


async def test_an_aborted_upload_leaves_nothing(backend: Backend) -> None:
    upload = await backend.store.upload("half", "image/png")
    for _ in range(3):
        await upload.write(os.urandom(4 * MIB))  # two parts sent, the rest held
    await upload.abort()
    await upload.abort()

    assert backend.stored_keys() == []
    assert backend.unfinished() == []
    with pytest.raises(BlobNotFound):
        await backend.store.head("half")


async def test_an_aborted_replacement_keeps_the_object_there(backend: Backend) -> None:
    kept = os.urandom(2000)
    await put(backend.store, "avatar", _source([kept]), "image/png")
    upload = await backend.store.upload("avatar", "image/gif")
    await upload.write(os.urandom(PART + 1))
    await upload.abort()

    assert await read_all(backend.store, "avatar") == kept
    assert (await backend.store.head("avatar")).content_type == "image/png"
    assert backend.unfinished() == []


async def test_put_keeps_nothing_when_its_source_fails(backend: Backend) -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield os.urandom(PART)
        yield os.urandom(PART)
        raise ValueError("not an image")

    with pytest.raises(ValueError, match="not an image"):
        await put(backend.store, "refused", failing(), "image/png")

    assert backend.stored_keys() == []
    assert backend.unfinished() == []


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "a/../b", "..", "a//b", "a/", ".meta/x", "a/.hidden", "a b", "é", "a\\b"],
)
async def test_the_directory_store_refuses_keys_that_are_not_plain_paths(
    tmp_path: Path, key: str
) -> None:
    store = DirectoryBlobStore(tmp_path, "things")
    await store.start()
    with pytest.raises(RuleViolation):
        await store.upload(key, "image/png")
    with pytest.raises(RuleViolation):
        await anext(store.read(key))
    with pytest.raises(RuleViolation):
        await store.head(key)
    with pytest.raises(RuleViolation):
        await store.delete(key)
    assert files(tmp_path) == []


async def test_the_directory_store_refuses_a_key_that_is_another_ones_folder(
    tmp_path: Path,
) -> None:
    store = DirectoryBlobStore(tmp_path, "things")
    await store.start()
    await put(store, "a/b", _source([b"x"]), "text/plain")

    with pytest.raises(RuleViolation):
        await put(store, "a", _source([b"y"]), "text/plain")
    with pytest.raises(RuleViolation):
        await put(store, "a/b/c", _source([b"z"]), "text/plain")
    assert await read_all(store, "a/b") == b"x"
    assert files(store.uploads_path()) == []


async def test_an_s3_endpoint_that_does_not_answer_is_unavailable_quickly() -> None:
    port = free_ports(["nobody"])["nobody"]
    down = S3BlobStore(
        "somewhere",
        endpoint_url=f"http://127.0.0.1:{port}",
        access_key_id="test",
        secret_access_key="test",
    )
    began = time.monotonic()
    with pytest.raises(Unavailable, match=f"127.0.0.1:{port}"):
        await down.head("k")
    with pytest.raises(Unavailable):
        await down.start()
    with pytest.raises(Unavailable):
        await anext(down.read("k"))
    assert time.monotonic() - began < 10
    await down.stop()


async def test_the_part_creates_its_bucket_and_reports_on_it(s3_server: str) -> None:
    bucket = S3Bucket.unique(s3_server, "created")
    store = blob_store(BlobSettings(service_name="images", **bucket.settings()))
    assert isinstance(store, S3BlobStore)
    assert not bucket.exists()

    await store.start()
    await store.start()  # a second replica finds it there
    assert bucket.exists()
    await store.checks()["blobs"]()
    await store.stop()


async def test_a_provisioned_bucket_is_not_created(s3_server: str) -> None:
    bucket = S3Bucket.unique(s3_server, "provisioned")
    store = blob_store(
        BlobSettings(service_name="images", **bucket.settings(s3_create_bucket=False))
    )
    with pytest.raises(Unavailable, match="S3_CREATE_BUCKET"):
        await store.start()
    assert not bucket.exists()
    await store.stop()


async def test_the_directory_part_makes_its_directory_and_reports_on_it(tmp_path: Path) -> None:
    store = blob_store(BlobSettings(service_name="images", blob_dir=tmp_path / "blobs"))
    assert isinstance(store, DirectoryBlobStore)
    assert store.path == tmp_path / "blobs" / "images"

    await store.start()
    await store.checks()["blobs"]()
    await put(store, "x", _source([b"1"]), "text/plain")
    assert (store.path / "x").read_bytes() == b"1"
    for path in sorted(store.path.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    store.path.rmdir()
    with pytest.raises(FileNotFoundError):
        await store.checks()["blobs"]()


async def test_an_s3_upload_holds_about_two_parts_whatever_the_size(s3_bucket: S3Bucket) -> None:
    settings = BlobSettings(service_name="blobs", **s3_bucket.settings())
    part = settings.s3_part_bytes
    store = S3BlobStore.of(settings)
    await store.start()
    chunk = os.urandom(MIB)
    size = 64 * MIB

    tracemalloc.start()
    try:
        upload = await store.upload("large", "application/octet-stream")
        for _ in range(size // MIB):
            await upload.write(chunk)
        stored = await upload.complete()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    await store.stop()

    assert stored.size == size
    assert s3_bucket.keys() == ["large"]
    print(f"64 MiB through {part // MIB} MiB parts: Python heap peak {peak / MIB:.1f} MiB")
    # The part in flight and the one filling, and a little.
    assert peak < 2 * part + part // 2


async def _source(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
