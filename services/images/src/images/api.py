"""HTTP routes of the images service. An upload is read as a stream of multipart parts, the
file a chunk at a time straight into the blob store; a download streams from the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from aiohttp import BodyPartReader, MultipartReader, web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from chassis.web.auth import CALLER_KEY, Caller, require_tenant
from chassis.web.openapi import Route
from chassis.web.parsing import json_response, multipart_form, read_json
from chassis.web.problems import Problem, invalid, validation_problem
from images.domain import MAX_DESCRIPTION, Actor, Content, Image, ImageNotFound, TooLarge
from images.formats import ImageKind, NotAnImage
from images.repository import ImageQueries
from images.service import ImageService

# An image's id is uuid4 hex.
IMAGE = "/images/{image_id:[0-9a-f]{32}}"
CHUNK_BYTES = 256 * 1024
# A text field of the form is read whole, but never more than this.
MAX_FIELD_BYTES = 4 * MAX_DESCRIPTION + 64
# Avatars change seldom and are shown everywhere: caches may keep one a little while.
AVATAR_CACHE = "public, max-age=300"
# A tenant's image: kept by the caller's browser only, and checked with the ETag every time.
TENANT_CACHE = "private, no-cache"

Description = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_DESCRIPTION)
]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
_TEXT_FIELDS: dict[str, TypeAdapter[Any]] = {
    "description": TypeAdapter(Description),
    "avatar_of": TypeAdapter(UserId),
}


class UploadForm(BaseModel):
    """The text fields of `POST /images` (multipart/form-data), besides the `file`."""

    description: Description
    avatar_of: UserId | None = None


class UploadedForm(UploadForm):
    """The whole form, as the API document describes it; it is read as a stream, not by
    this model."""

    file: bytes = Field(description="The image: JPEG, PNG or GIF, told by its content")


class DescribeImage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: Description


class ImageUrls(BaseModel):
    self: str
    download: str


class ImageOut(BaseModel):
    id: str
    organization_id: str
    content_type: ImageKind
    size: int
    description: str
    filename: str
    uploaded_by: str
    avatar_of: str | None
    created_utc: datetime
    etag: str = Field(description="The download's ETag, quotes included")
    urls: ImageUrls

    @classmethod
    def of(cls, image: Image) -> ImageOut:
        path = f"/images/{image.id}"
        return cls(
            id=image.id,
            organization_id=image.organization_id,
            content_type=image.kind,
            size=image.size,
            description=image.description,
            filename=image.filename,
            uploaded_by=image.uploaded_by,
            avatar_of=image.avatar_of,
            created_utc=image.created_utc,
            etag=image.etag,
            urls=ImageUrls(self=path, download=f"{path}/download"),
        )


def actor_of(caller: Caller, tenant_id: str) -> Actor:
    return Actor(caller.user_id, tenant_id, owner=caller.owns_tenant, operator=caller.is_operator)


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK_BYTES):
        yield chunk


async def _text(part: BodyPartReader, name: str) -> str:
    raw = bytearray()
    async for chunk in _chunks(part):
        raw += chunk
        if len(raw) > MAX_FIELD_BYTES:
            raise invalid([{"field": name, "message": f"longer than {MAX_FIELD_BYTES} bytes"}])
    try:
        value = raw.decode()
        _TEXT_FIELDS[name].validate_python(value)
    except UnicodeDecodeError as exc:
        raise invalid([{"field": name, "message": "not UTF-8 text"}]) from exc
    except ValidationError as exc:
        raise invalid([{"field": name, "message": e["msg"]} for e in exc.errors()]) from exc
    return value


def routes(images: ImageService, queries: ImageQueries) -> list[Route]:
    async def receive(actor: Actor, part: BodyPartReader, avatar_of: str | None) -> Content:
        try:
            return await images.receive(actor, _chunks(part), avatar_of)
        except NotAnImage as exc:
            raise Problem(415, str(exc), title="Unsupported image type") from exc
        except TooLarge as exc:
            # Answered now, the rest of the body unread: the connection is not kept.
            raise Problem(413, str(exc), headers={"Connection": "close"}) from exc

    async def read_form(
        reader: MultipartReader, actor: Actor
    ) -> tuple[UploadForm, Content, str | None]:
        """The form's text fields, and its file received into the store (with its name);
        the file's bytes are dropped if the form is refused after them."""
        fields: dict[str, str] = {}
        filename: str | None = None
        content: Content | None = None
        try:
            while (part := await reader.next()) is not None:
                name = part.name if isinstance(part, BodyPartReader) else None
                if not isinstance(part, BodyPartReader) or name not in ("file", *_TEXT_FIELDS):
                    raise invalid([{"field": name or "?", "message": "not a field of the form"}])
                if name in fields or (name == "file" and content is not None):
                    raise invalid([{"field": name, "message": "sent more than once"}])
                if name == "file":
                    filename = part.filename
                    content = await receive(actor, part, fields.get("avatar_of"))
                else:
                    fields[name] = await _text(part, name)
            try:
                form = UploadForm.model_validate(fields)
            except ValidationError as exc:
                raise validation_problem(exc, "form") from exc
            if content is None:
                raise invalid([{"field": "file", "message": "Field required"}], "form")
            return form, content, filename
        except BaseException:
            if content is not None:
                await images.discard(content)
            raise

    async def upload(request: web.Request) -> web.Response:
        caller, tenant = require_tenant(request)
        actor = actor_of(caller, tenant)
        how = "Send the image as multipart/form-data (file, description)."
        async with multipart_form(request, how) as reader:
            form, content, filename = await read_form(reader, actor)
        image = await images.keep(actor, content, form.description, filename, form.avatar_of)
        out = ImageOut.of(image)
        return json_response(out, 201, headers={"Location": out.urls.self})

    async def existing(request: web.Request, tenant: str) -> Image:
        image_id = request.match_info["image_id"]
        image = await queries.image(image_id)
        if image is None or image.organization_id != tenant:
            raise ImageNotFound(image_id)
        return image

    async def inspect(request: web.Request) -> web.Response:
        _, tenant = require_tenant(request)
        return json_response(ImageOut.of(await existing(request, tenant)))

    async def describe(request: web.Request) -> web.Response:
        caller, tenant = require_tenant(request)
        body = await read_json(request, DescribeImage)
        image = await images.describe(
            actor_of(caller, tenant), request.match_info["image_id"], body.description
        )
        return json_response(ImageOut.of(image))

    async def delete(request: web.Request) -> web.Response:
        caller, tenant = require_tenant(request)
        await images.delete(actor_of(caller, tenant), request.match_info["image_id"])
        return web.Response(status=204)

    async def download(request: web.Request) -> web.StreamResponse:
        caller = request.get(CALLER_KEY)
        image_id = request.match_info["image_id"]
        image = await queries.image(image_id)
        # Never says whether an image the caller may not see exists.
        if image is None or not image.visible_to(caller.tenant_id if caller else None):
            raise ImageNotFound(image_id)
        headers = {
            "ETag": image.etag,
            "Cache-Control": AVATAR_CACHE if image.avatar_of else TENANT_CACHE,
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(image.filename, safe='')}",
            "X-Content-Type-Options": "nosniff",
        }
        asked = request.if_none_match
        if asked and any(tag.value in ("*", image.sha256) for tag in asked):
            return web.Response(status=304, headers=headers)
        response = web.StreamResponse(headers=headers)
        response.content_type = image.kind.value
        response.content_length = image.size
        if request.method == "HEAD":
            await response.prepare(request)
            return response
        async with images.reading(image, CHUNK_BYTES) as chunks:
            # The first read finds a missing object (404) before anything is answered.
            chunk = await anext(chunks, None)
            await response.prepare(request)
            while chunk is not None:
                await response.write(chunk)
                chunk = await anext(chunks, None)
        await response.write_eof()
        return response

    return [
        Route(
            "POST",
            "/images",
            upload,
            "Upload an image as multipart/form-data: `file` (JPEG, PNG or GIF, told by its "
            "content; at most the size allowed), `description` (1 to 250 characters) and "
            "`avatar_of` (optional: the user whose avatar it is, the caller or by an operator)",
            form=UploadedForm,
            response=ImageOut,
            status=201,
            errors=(403,),
        ),
        Route("GET", IMAGE, inspect, "One image", response=ImageOut, errors=(403, 404)),
        Route(
            "PATCH",
            IMAGE,
            describe,
            "Describe the image anew (its uploader, the organization's owners, operators, or "
            "an avatar's user)",
            body=DescribeImage,
            response=ImageOut,
            errors=(403, 404),
        ),
        Route(
            "DELETE",
            IMAGE,
            delete,
            "Delete the image and its bytes (who may describe it may delete it)",
            status=204,
            errors=(403, 404),
        ),
        Route(
            "GET",
            IMAGE + "/download",
            download,
            "The image's bytes, as their type; 304 when `If-None-Match` names its ETag. "
            "Without a token only avatars are served",
            response=bytes,
            media_type="image/*",
            other_statuses=(304,),
            errors=(404,),
            public=True,
        ),
    ]
