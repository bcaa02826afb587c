"""The images adapter against a stand-in of the images service served for real, which reads
uploads as images does (multipart: description, avatar_of, then file, streamed): a large file
arrives whole while it is still being sent, with the caller's token and ids; images'
refusals come back as the same problem; images away is Unavailable."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable

import pytest

from chassis.errors import Unavailable
from chassis.logging import bound_ids
from chassis.web.problems import Problem
from profiles.images import HttpAvatarImages
from profiles.service import Upload
from testkit.waiting import eventually
from testkit.web import serving

from .conftest import MAX_BYTES, MB, PNG, Images


@pytest.fixture
async def images() -> AsyncIterator[tuple[Images, HttpAvatarImages]]:
    service = Images(callers={"Bearer user-u1": "u1", "Bearer user-u2": "u2"})
    async with serving(service.app()) as url:
        adapter = HttpAvatarImages(url, timeout=5)
        await adapter.start()
        yield service, adapter
        await adapter.stop()


async def pieces(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def test_a_large_file_streams_to_images_whole_with_the_caller_s_token_and_ids(
    images: tuple[Images, HttpAvatarImages],
) -> None:
    service, adapter = images
    content = PNG + os.urandom(8 * MB)
    chunks = [content[i : i + MB] for i in range(0, len(content), MB)]

    def received(at_least: int) -> Callable[[], bool]:
        return lambda: service.received >= at_least

    async def sent_as_read() -> AsyncIterator[bytes]:
        for n, chunk in enumerate(chunks):
            # Each megabyte goes only once images has most of those before it: an adapter
            # holding the file whole before sending would never get here.
            await eventually(received((n - 2) * MB), timeout=5)
            yield chunk

    with bound_ids("req-1", "corr-1"):
        image = await adapter.upload(
            "u1", Upload("me.png", "image/png", sent_as_read()), "Bearer user-u1"
        )
    stored = service.stored[image.id]
    assert image.url == f"/images/{image.id}/download"
    assert (stored["size"], stored["sha256"]) == (len(content), hashlib.sha256(content).hexdigest())
    assert (stored["description"], stored["avatar_of"]) == ("Avatar", "u1")
    assert (stored["filename"], stored["content_type"]) == ("me.png", "image/png")
    headers = stored["headers"]
    assert headers["Authorization"] == "Bearer user-u1"
    assert (headers["X-Request-Id"], headers["X-Correlation-Id"]) == ("req-1", "corr-1")
    # Its length unknown up front: sent as it came.
    assert headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in headers


@pytest.mark.parametrize(
    ("token", "user_id", "content", "status", "detail"),
    [
        ("Bearer stranger", "u1", PNG, 401, "Sign in"),
        ("Bearer user-u2", "u1", PNG, 403, "Only the user themself"),
        ("Bearer user-u1", "u1", b"GIF89a-but-not-really", 415, "not a jpeg, png or gif"),
        ("Bearer user-u1", "u1", PNG + bytes(MAX_BYTES), 413, "at most"),
    ],
)
async def test_images_refusals_come_back_as_the_same_problem(
    images: tuple[Images, HttpAvatarImages],
    token: str,
    user_id: str,
    content: bytes,
    status: int,
    detail: str,
) -> None:
    service, adapter = images
    with pytest.raises(Problem) as refused:
        await adapter.upload(user_id, Upload("a.png", "image/png", pieces(content)), token)
    assert refused.value.status == status
    assert refused.value.detail is not None and detail in refused.value.detail
    assert service.stored == {}


async def test_a_validation_problem_keeps_its_field_errors(
    images: tuple[Images, HttpAvatarImages], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, adapter = images
    monkeypatch.setattr("profiles.images.AVATAR_DESCRIPTION", "")
    with pytest.raises(Problem) as refused:
        await adapter.upload("u1", Upload(None, None, pieces(PNG)), "Bearer user-u1")
    assert refused.value.status == 422
    assert refused.value.errors == [{"field": "description", "message": "1 to 250 characters"}]


async def test_images_failing_or_away_is_unavailable(
    images: tuple[Images, HttpAvatarImages],
) -> None:
    service, adapter = images
    service.fail_with = 502
    with pytest.raises(Unavailable, match="502"):
        await adapter.upload("u1", Upload(None, None, pieces(PNG)), "Bearer user-u1")
    away = HttpAvatarImages("http://127.0.0.1:9", timeout=1)
    await away.start()
    try:
        with pytest.raises(Unavailable, match="did not answer"):
            await away.upload("u1", Upload(None, None, pieces(PNG)), "Bearer user-u1")
    finally:
        await away.stop()


async def test_an_image_is_deleted_as_the_caller_and_one_gone_already_is_fine(
    images: tuple[Images, HttpAvatarImages],
) -> None:
    service, adapter = images
    image = await adapter.upload("u1", Upload(None, None, pieces(PNG)), "Bearer user-u1")
    await adapter.delete(image.id, "Bearer user-u1")
    await adapter.delete(image.id, "Bearer user-u1")
    assert service.deleted == [image.id] and service.stored == {}
