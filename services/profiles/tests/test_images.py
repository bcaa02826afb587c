"""The images adapter against a stand-in of the images service served for real, which reads
uploads as images does (multipart: description, avatar_of, then file, streamed): a large file
arrives whole while it is still being sent, with the caller's token and ids; images'
refusals come back as the same problem; images away is Unavailable."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import BodyPartReader, web

from chassis.errors import Unavailable
from chassis.logging import bound_ids
from chassis.web.problems import Problem
from profiles.images import HttpAvatarImages
from profiles.service import Upload
from testkit.waiting import eventually
from testkit.web import serving

MB = 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n"
MAX_BYTES = 12 * MB


def problem(status: int, detail: str, **extra: Any) -> web.Response:
    body = {"type": "about:blank", "title": "Refused", "status": status, "detail": detail, **extra}
    return web.json_response(body, status=status, content_type="application/problem+json")


@dataclass
class Images:
    """What images would store: each upload's form fields, size and digest (the bytes are
    hashed as they come, never kept), the headers it came with; what was deleted."""

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
        token = request.headers.get("Authorization", "")
        if not token.startswith("Bearer user-"):
            return problem(401, "Sign in: this route needs a bearer token.")
        reader = await request.multipart()
        fields: dict[str, str] = {}
        for name in ("description", "avatar_of"):
            part = await reader.next()
            assert isinstance(part, BodyPartReader) and part.name == name, part
            fields[name] = await part.text()
        if fields["avatar_of"] != token.removeprefix("Bearer user-"):
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


@pytest.fixture
async def images() -> AsyncIterator[tuple[Images, HttpAvatarImages]]:
    service = Images()
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
        ("Bearer nobody", "u1", PNG, 401, "Sign in"),
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
