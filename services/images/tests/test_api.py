"""The images service on the real MongoDB, RabbitMQ and S3 API server (moto's, its own
process), over HTTP: what the bucket holds is checked through boto3, apart from the service."""

from __future__ import annotations

import hashlib
import time

from contracts.profiles import AvatarChanged, AvatarRemoved
from testkit.api import PlatformClient, image_form
from testkit.fixtures import EventProducer
from testkit.identity import People, Person
from testkit.images import gif, jpeg, png, png_of_size
from testkit.s3 import S3Bucket
from testkit.stored import Database, stored_for
from testkit.waiting import eventually

MAX_BYTES = 100 * 1024 * 1024


def nothing_left(s3_bucket: S3Bucket, organization_id: str) -> bool:
    return s3_bucket.keys(f"{organization_id}/") == [] and s3_bucket.open_uploads() == 0


async def test_upload_inspect_download_describe_and_delete(
    person: Person, images_url: str, s3_bucket: S3Bucket
) -> None:
    me = person.calling(images_url)
    data = jpeg((64, 48), progressive=True)
    image = await me.upload_image(data, description=" A cat ", filename="cat.jpg")
    assert (image.content_type, image.size, image.description) == ("image/jpeg", len(data), "A cat")
    assert (image.filename, image.uploaded_by, image.avatar_of) == ("cat.jpg", person.user_id, None)
    assert image.organization_id == person.organization_id
    assert image.etag == f'"{hashlib.sha256(data).hexdigest()}"'
    assert image.urls.download == f"/images/{image.id}/download"
    assert await me.image(image.id) == image
    assert s3_bucket.keys(f"{person.organization_id}/") == [f"{person.organization_id}/{image.id}"]

    got = await me.download_image(image.id)
    assert got.status == 200 and got.body == data
    assert got.content_type == "image/jpeg"
    assert got.headers["Content-Length"] == str(len(data))
    assert got.headers["ETag"] == image.etag
    assert got.headers["Cache-Control"] == "private, no-cache"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Disposition"] == "inline; filename*=UTF-8''cat.jpg"

    described = await me.describe_image(image.id, "A black cat")
    assert described.description == "A black cat" and described.etag == image.etag
    (await me.call("PATCH", f"/images/{image.id}", json={"description": ""})).problem(422)

    await me.delete_image(image.id)
    (await me.call("GET", f"/images/{image.id}")).problem(404)
    (await me.call("GET", f"/images/{image.id}/download")).problem(404)
    (await me.call("DELETE", f"/images/{image.id}")).problem(404)
    assert nothing_left(s3_bucket, person.organization_id)


async def test_the_type_is_the_contents_never_the_name(someone: Person, images_url: str) -> None:
    me = someone.calling(images_url)
    data = png((40, 30))
    image = await me.upload_image(
        data, filename="../holiday.gif", file_type="image/gif", file_first=True
    )
    assert (image.content_type, image.filename) == ("image/png", "holiday.gif")
    got = await me.download_image(image.id)
    assert got.content_type == "image/png" and got.body == data
    name = "été 2026 — plage.gif"
    assert (await me.upload_image(gif(), filename=name)).filename == name
    got = await me.download_image((await me.upload_image(gif(), filename=name)).id)
    assert got.headers["Content-Disposition"].endswith(
        "%C3%A9t%C3%A9%202026%20%E2%80%94%20plage.gif"
    )


async def test_a_refused_upload_leaves_nothing(
    person: Person, images_url: str, s3_bucket: S3Bucket, images_database: Database
) -> None:
    me = person.calling(images_url)
    cases = [
        (image_form(b"Not an image at all.\n", filename="notes.jpg", file_type="image/jpeg"), 415),
        (image_form(jpeg()[:-50], filename="cut.jpg"), 422),
        (image_form(b"", filename="empty.png"), 422),
        (image_form(png() + b"tail", filename="tail.png"), 422),
        (image_form(png(), description=" " * 3, file_first=True), 422),
        (image_form(png(), description="x" * 251), 422),
        (image_form(png(), avatar_of="someone-else", file_first=True), 403),
        (image_form(None), 422),
        (image_form(png(), description=None), 422),
    ]
    details = []
    for form, status in cases:
        details.append((await me.post_image(form)).problem(status).detail)
    assert details[0] == "The file is not a JPEG, PNG or GIF image."
    assert details[1] == "the JPEG file is truncated"
    assert details[2] == "the file is empty"
    assert details[3] == "the PNG file has data after its end"
    assert nothing_left(s3_bucket, person.organization_id)
    assert await stored_for(images_database, person.organization_id) == {}


async def test_malformed_forms_are_problems(
    person: Person, images_url: str, s3_bucket: S3Bucket
) -> None:
    me = person.calling(images_url)
    (await me.call("POST", "/images", json={"description": "x"})).problem(415)
    twice = image_form(png())
    twice.append("again").set_content_disposition("form-data", name="description")
    assert (await me.post_image(twice)).problem(422).errors[0].field == "description"  # type: ignore[index]
    extra = image_form(png())
    extra.append("x").set_content_disposition("form-data", name="colour")
    (await me.post_image(extra)).problem(422)
    form = {"Content-Type": "multipart/form-data; boundary=zz"}
    # The second is cut before its closing boundary: its file, read, is not kept.
    unclosed = b"--zz\r\nContent-Disposition: form-data; name=file\r\n\r\n" + png()
    # A part's header that is not HTTP (a control character in it).
    bad_header = b'--zz\r\nContent-Disposition: form-data; name="\x01"\r\n\r\nx\r\n--zz--\r\n'
    for body in (b"garbage", unclosed, bad_header):
        answer = await me.call("POST", "/images", data=body, headers=form)
        assert "not valid multipart/form-data" in (answer.problem(400).detail or "")
    assert nothing_left(s3_bucket, person.organization_id)


async def test_more_than_100_mib_is_refused_while_streaming(
    person: Person, images_url: str, s3_bucket: S3Bucket, images_database: Database
) -> None:
    me = person.calling(images_url)
    started = time.monotonic()
    answer = await me.post_image(image_form(png_of_size(MAX_BYTES + 1), filename="huge.png"))
    elapsed = time.monotonic() - started
    assert answer.problem(413).detail == f"An image may be at most {MAX_BYTES} bytes."
    assert nothing_left(s3_bucket, person.organization_id)
    assert await stored_for(images_database, person.organization_id) == {}
    print(f"100 MiB + 1 byte refused in {elapsed:.1f} s")


async def test_conditional_get(someone: Person, images_url: str) -> None:
    me = someone.calling(images_url)
    image = await me.upload_image(gif())
    for tag in (image.etag, f"W/{image.etag}", f'"other", {image.etag}', "*"):
        unchanged = await me.download_image(image.id, If_None_Match=tag)
        assert (unchanged.status, unchanged.body) == (304, b"")
        assert unchanged.headers["ETag"] == image.etag
    changed = await me.download_image(image.id, If_None_Match='"something-else"')
    assert changed.status == 200 and changed.body == gif()
    head = await me.call("HEAD", f"/images/{image.id}/download")
    assert head.status == 200 and head.headers["Content-Length"] == str(image.size)


async def test_avatars_are_downloaded_without_a_token(
    someone: Person, person: Person, operator: Person, images_url: str
) -> None:
    me, anonymous = someone.calling(images_url), someone.calling(images_url).as_caller(None)
    avatar = await me.upload_image(png(), avatar_of=someone.user_id)
    assert avatar.avatar_of == someone.user_id
    private = await me.upload_image(png())
    got = await anonymous.download_image(avatar.id)
    assert got.status == 200 and got.body == png()
    assert got.headers["Cache-Control"] == "public, max-age=300"
    (await anonymous.download_image(private.id)).problem(404)
    (await anonymous.call("GET", f"/images/{avatar.id}")).problem(401)
    other = person.calling(images_url)
    assert (await other.download_image(avatar.id)).status == 200
    (await other.download_image(private.id)).problem(404)
    # Someone else's avatar: only an operator uploads it.
    refused = await other.post_image(image_form(png(), avatar_of=someone.user_id))
    refused.problem(403)
    theirs = await operator.calling(images_url).upload_image(jpeg(), avatar_of=person.user_id)
    assert theirs.avatar_of == person.user_id


async def test_another_tenant_sees_and_changes_nothing(
    someone: Person, person: Person, images_url: str
) -> None:
    image = await someone.calling(images_url).upload_image(png())
    other = person.calling(images_url)
    for method, path, body in [
        ("GET", f"/images/{image.id}", None),
        ("PATCH", f"/images/{image.id}", {"description": "Mine now"}),
        ("DELETE", f"/images/{image.id}", None),
        ("GET", f"/images/{image.id}/download", None),
    ]:
        (await other.call(method, path, json=body)).problem(404)
    assert (await someone.calling(images_url).image(image.id)).description == "An image"


async def test_members_read_and_only_some_change(
    people: People, images_url: str, s3_bucket: S3Bucket
) -> None:
    owner, uploader, member = await people.organization(
        await people.person(), await people.person(), await people.person()
    )

    def calling(p: Person) -> PlatformClient:
        return p.calling(images_url)

    image = await calling(uploader).upload_image(gif())
    assert (await calling(member).image(image.id)).id == image.id
    assert (await calling(member).download_image(image.id)).status == 200
    problem = await calling(member).call("PATCH", f"/images/{image.id}", json={"description": "x"})
    problem.problem(403)
    (await calling(member).call("DELETE", f"/images/{image.id}")).problem(403)
    await calling(uploader).describe_image(image.id, "By its uploader")
    await calling(owner).describe_image(image.id, "By the owner")
    await calling(owner).delete_image(image.id)
    assert nothing_left(s3_bucket, owner.organization_id)


async def test_avatar_events_delete_the_images(
    person: Person, images_url: str, producer: EventProducer, s3_bucket: S3Bucket
) -> None:
    me = person.calling(images_url)
    old = await me.upload_image(png(), avatar_of=person.user_id)
    new = await me.upload_image(png(), avatar_of=person.user_id)
    kept = await me.upload_image(png())
    tenant = person.organization_id
    changed = AvatarChanged(user_id=person.user_id, image_id=new.id, previous_image_id=old.id)
    await producer.publish(changed, tenant_id=tenant, actor_id=person.user_id)

    async def gone(image_id: str) -> bool:
        answer = await me.call("GET", f"/images/{image_id}")
        return answer.status == 404 and f"{tenant}/{image_id}" not in s3_bucket.keys(tenant)

    await eventually(lambda: gone(old.id), timeout=10)
    # Not an avatar: an AvatarRemoved naming it leaves it be.
    for image_id in (kept.id, new.id):
        removed = AvatarRemoved(user_id=person.user_id, image_id=image_id)
        await producer.publish(removed, tenant_id=tenant, actor_id=person.user_id)
    await eventually(lambda: gone(new.id), timeout=10)
    assert (await me.image(kept.id)).id == kept.id
    assert s3_bucket.keys(f"{tenant}/") == [f"{tenant}/{kept.id}"]
