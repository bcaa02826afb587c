"""Images through the gateway, kept on a real S3 API server (moto's, its own process): what a
client uploads comes back byte for byte, typed by its content; what is refused leaves
nothing, in the bucket (read straight from the server) or in the images database."""

from __future__ import annotations

import hashlib

import pytest

from testkit.api import PlatformClient, image_form
from testkit.identity import People, Person
from testkit.images import gif, jpeg, png, png_of_size
from testkit.s3 import S3Bucket
from testkit.stored import Databases
from testkit.waiting import eventually

MAX_IMAGE_BYTES = 100 * 1024 * 1024


Stored = tuple[list[str], list[str], int]


async def stored(database: Databases, bucket: S3Bucket, tenant: str) -> Stored:
    """The tenant's images as the database holds them, the bucket's objects under the
    tenant's prefix, and the multipart uploads left open in it."""
    images = database("images")["images"]
    ids = sorted([doc["_id"] async for doc in images.find({"tenant_id": tenant})])
    keys = sorted(bucket.keys(f"{tenant}/"))
    return ids, keys, bucket.open_uploads()


async def test_an_image_goes_up_comes_down_whole_changes_and_goes(
    client: PlatformClient, tenant: str, bucket: S3Bucket, database: Databases
) -> None:
    content = jpeg((640, 480))
    image = await client.upload_image(content, description="The fleet", filename="fleet.jpg")
    assert (image.content_type, image.size, image.description) == (
        "image/jpeg",
        len(content),
        "The fleet",
    )
    assert (image.filename, image.organization_id) == ("fleet.jpg", tenant)
    assert await client.image(image.id) == image
    assert bucket.content(f"{tenant}/{image.id}") == content

    download = await client.download_image(image.id)
    assert download.status == 200 and download.body == content
    assert download.headers["Content-Type"] == "image/jpeg"
    etag = download.headers["ETag"]
    assert etag == f'"{hashlib.sha256(content).hexdigest()}"' == image.etag
    again = await client.download_image(image.id, If_None_Match=etag)
    assert (again.status, again.body) == (304, b"")

    described = await client.describe_image(image.id, "The fleet, washed")
    assert described.description == "The fleet, washed"
    assert (await client.image(image.id)).description == "The fleet, washed"

    await client.delete_image(image.id)
    (await client.call("GET", f"/images/{image.id}")).problem(404)
    (await client.download_image(image.id)).problem(404)
    assert await stored(database, bucket, tenant) == ([], [], 0)


async def test_the_content_decides_the_type_not_the_name_or_the_declared_type(
    client: PlatformClient,
) -> None:
    content = png((40, 30))
    image = await client.upload_image(content, filename="cat.gif", file_type="image/gif")
    assert (image.content_type, image.filename) == ("image/png", "cat.gif")
    download = await client.download_image(image.id)
    assert download.headers["Content-Type"] == "image/png" and download.body == content
    assert (await client.upload_image(gif(), filename="x.jpg")).content_type == "image/gif"


@pytest.mark.parametrize(
    ("file", "filename", "status", "says"),
    [
        (b"plain text, not a picture\n" * 40, "notes.jpg", 415, "not a JPEG, PNG or GIF"),
        (jpeg((64, 64))[:-200], "cut.jpg", 422, "truncated"),
        (b"", "empty.png", 422, "empty"),
    ],
    ids=["text named .jpg", "truncated JPEG", "empty file"],
)
async def test_what_is_not_a_whole_image_is_refused_and_nothing_is_kept(
    client: PlatformClient,
    tenant: str,
    bucket: S3Bucket,
    database: Databases,
    file: bytes,
    filename: str,
    status: int,
    says: str,
) -> None:
    before = await stored(database, bucket, tenant)
    answer = await client.post_image(image_form(file, filename=filename))
    problem = answer.problem(status)
    assert says in (problem.detail or "")
    assert await stored(database, bucket, tenant) == before


async def test_a_body_past_100_mib_is_refused_while_streaming_through_the_gateway(
    client: PlatformClient, tenant: str, bucket: S3Bucket, database: Databases
) -> None:
    before = await stored(database, bucket, tenant)
    answer = await client.post_image(image_form(png_of_size(MAX_IMAGE_BYTES + 1)))
    assert f"at most {MAX_IMAGE_BYTES} bytes" in (answer.problem(413).detail or "")

    async def as_before() -> bool:
        # The parts sent before the refusal are dropped with the upload.
        return await stored(database, bucket, tenant) == before

    await eventually(as_before)


async def test_an_avatar_downloads_without_a_token_and_nothing_else_does(
    people: People, anonymous: PlatformClient
) -> None:
    owner: Person = await people.person()
    avatar = await owner.api.upload_image(png(), avatar_of=owner.user_id)
    private = await owner.api.upload_image(gif())

    download = await anonymous.download_image(avatar.id)
    assert download.status == 200 and download.body == png()
    assert "public" in download.headers["Cache-Control"]
    (await anonymous.download_image(private.id)).problem(404)
    (await anonymous.call("GET", f"/images/{avatar.id}")).problem(401)
    # Nobody makes an image someone else's avatar (operators aside).
    stranger = await people.person()
    refused = await stranger.api.post_image(image_form(png(), avatar_of=owner.user_id))
    refused.problem(403)
