"""The images use cases on the in-memory unit of work and blob store: what is stored,
answered and published, and that a refused upload keeps nothing."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from chassis.errors import NotAllowed, RuleViolation
from contracts import images as published
from contracts.audits import AuditRecorded
from contracts.profiles import AvatarChanged, AvatarRemoved
from contracts.usages import UsageRecorded
from images.domain import Actor, BlobChore, Chore, EmptyFile, Image, ImageNotFound, TooLarge
from images.formats import BrokenImage, ImageKind, NotAnImage
from images.service import ABANDONED_AFTER, ImageService
from testkit.images import gif, jpeg, png, png_of_size

ME = Actor("me", "org")
MEMBER = Actor("member", "org")
OWNER = Actor("owner", "org", owner=True)


async def pieces(data: bytes, size: int = 100) -> AsyncIterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]


async def upload(
    images: ImageService,
    data: bytes,
    *,
    actor: Actor = ME,
    description: str = "A picture",
    filename: str | None = "picture.png",
    avatar_of: str | None = None,
) -> Image:
    content = await images.receive(actor, pieces(data), avatar_of)
    return await images.keep(actor, content, description, filename, avatar_of)


def nothing_kept(uow: Any, store: Any) -> None:
    assert store.objects == {} and store.open == set()
    assert uow.state.images == {} and uow.state.chores == {}


async def test_an_upload_is_stored_checked_and_published(
    images: ImageService, uow: Any, store: Any, now: datetime
) -> None:
    data = png()
    image = await upload(images, data, description="  A cat ")
    assert store.objects == {f"org/{image.id}": (data, "image/png")}
    assert uow.state.images == {image.id: image} and uow.state.chores == {}
    assert (image.kind, image.size, image.description) == (ImageKind.PNG, len(data), "A cat")
    assert (image.uploaded_by, image.created_utc) == ("me", now)
    assert image.sha256 == hashlib.sha256(data).hexdigest()
    assert uow.events(published.ImageUploaded) == [
        published.ImageUploaded(
            image_id=image.id,
            content_type=published.ImageType.PNG,
            size=len(data),
            uploaded_by="me",
        )
    ]
    assert uow.events(UsageRecorded)[0].properties == {
        "bytes": len(data),
        "content_type": "image/png",
    }
    assert uow.events(AuditRecorded)[0].target == f"image:{image.id}"
    assert all(e.tenant_id == "org" and e.actor_id == "me" for e in uow.published)


async def test_the_kind_is_the_contents_whatever_the_name(images: ImageService) -> None:
    for data, kind in [(png(), ImageKind.PNG), (gif(), ImageKind.GIF), (jpeg(), ImageKind.JPEG)]:
        image = await upload(images, data, filename="misleading.gif.jpg")
        assert image.kind is kind and image.filename == "misleading.gif.jpg"


@pytest.mark.parametrize(
    ("data", "refusal", "message"),
    [
        (b"just some text, named .jpg", NotAnImage, "not a JPEG, PNG or GIF"),
        (b"", EmptyFile, "empty"),
        (jpeg()[:-40], BrokenImage, "JPEG file is truncated"),
        (png() + b"more", BrokenImage, "data after its end"),
    ],
)
async def test_a_refused_file_keeps_nothing(
    images: ImageService,
    uow: Any,
    store: Any,
    data: bytes,
    refusal: type[Exception],
    message: str,
) -> None:
    with pytest.raises(refusal, match=message):
        await images.receive(ME, pieces(data))
    nothing_kept(uow, store)
    assert uow.published == []


async def test_the_byte_over_the_limit_stops_the_upload(
    images: ImageService, uow: Any, store: Any, max_bytes: int
) -> None:
    read = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal read
        async for piece in png_of_size(2**31, piece_bytes=1000):
            read += len(piece)
            yield piece

    with pytest.raises(TooLarge):
        await images.receive(ME, endless())
    assert max_bytes < read <= max_bytes + 1000
    nothing_kept(uow, store)

    exactly = await images.receive(ME, pieces(png(), 100))
    assert exactly.size < max_bytes


async def test_a_description_refused_after_the_file_drops_its_bytes(
    images: ImageService, uow: Any, store: Any
) -> None:
    content = await images.receive(ME, pieces(gif()))
    assert list(store.objects) == [content.key]
    assert list(uow.state.chores) == [content.key]  # recorded before the bytes were written
    with pytest.raises(RuleViolation, match="1 to 250"):
        await images.keep(ME, content, " ", "x.gif")
    nothing_kept(uow, store)


async def test_an_avatar_is_its_users_or_an_operators_upload(
    images: ImageService, uow: Any, store: Any
) -> None:
    with pytest.raises(NotAllowed):
        await images.receive(ME, pieces(png()), avatar_of="someone-else")
    nothing_kept(uow, store)
    mine = await upload(images, png(), avatar_of="me")
    theirs = await upload(images, png(), actor=Actor("op", "org", operator=True), avatar_of="u2")
    assert (mine.avatar_of, theirs.avatar_of) == ("me", "u2")


async def test_a_failed_upload_is_aborted_and_forgotten(
    images: ImageService, uow: Any, store: Any
) -> None:
    async def cut_off() -> AsyncIterator[bytes]:
        yield png()[:200]
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        await images.receive(ME, cut_off())
    nothing_kept(uow, store)


async def test_describe_by_those_allowed(images: ImageService, uow: Any) -> None:
    image = await upload(images, png())
    assert (await images.describe(OWNER, image.id, " Owner's words ")).description == (
        "Owner's words"
    )
    with pytest.raises(NotAllowed):
        await images.describe(MEMBER, image.id, "Mine")
    with pytest.raises(ImageNotFound):
        await images.describe(Actor("me", "other-org", owner=True), image.id, "Theirs")
    assert uow.state.images[image.id].description == "Owner's words"
    assert uow.events(published.ImageDescribed) == [published.ImageDescribed(image_id=image.id)]


async def test_delete_removes_the_image_and_its_bytes(
    images: ImageService, uow: Any, store: Any
) -> None:
    image = await upload(images, jpeg())
    with pytest.raises(NotAllowed):
        await images.delete(MEMBER, image.id)
    with pytest.raises(ImageNotFound):
        await images.delete(Actor("me", "other-org"), image.id)
    await images.delete(ME, image.id)
    nothing_kept(uow, store)
    assert uow.events(published.ImageDeleted) == [published.ImageDeleted(image_id=image.id)]
    with pytest.raises(ImageNotFound):
        await images.delete(ME, image.id)


async def test_avatar_events_delete_the_users_avatar_only(
    images: ImageService, uow: Any, store: Any
) -> None:
    old, new = await upload(images, png(), avatar_of="me"), await upload(images, gif())
    other = await upload(images, png(), actor=Actor("op", "org", operator=True), avatar_of="u2")
    changed = AvatarChanged(user_id="me", image_id=new.id, previous_image_id=old.id)
    for _ in range(2):  # a second delivery finds nothing to do
        await uow.deliver(images.avatar_changed, changed, tenant_id="org")
    # Not an avatar, another user's: both left alone.
    for event in [
        AvatarRemoved(user_id="me", image_id=new.id),
        AvatarRemoved(user_id="me", image_id=other.id),
    ]:
        await uow.deliver(images.avatar_removed, event, tenant_id="org")
    assert set(uow.state.images) == {new.id, other.id}
    assert uow.events(published.ImageDeleted) == [
        published.ImageDeleted(image_id=old.id, avatar_of="me")
    ]
    # The bytes go with the next sweep, once the event's transaction has committed.
    assert list(uow.state.chores) == [old.key]
    await images.sweep()
    assert set(store.objects) == {new.key, other.key} and uow.state.chores == {}

    # The profile's organization need not be the one the avatar was uploaded for.
    removed = AvatarRemoved(user_id="u2", image_id=other.id)
    await uow.deliver(images.avatar_removed, removed, tenant_id="u2-own-org")
    await images.sweep()
    assert set(uow.state.images) == {new.id} and set(store.objects) == {new.key}


async def test_the_sweep_deletes_uploads_cut_off_an_hour_ago(
    images: ImageService, uow: Any, store: Any, now: datetime
) -> None:
    """What a crash in the middle of an upload leaves: its record, and maybe its bytes."""
    kept = await upload(images, png())
    stale = BlobChore("org/stale", "org", Chore.UPLOADING, now - ABANDONED_AFTER - timedelta(1))
    recent = BlobChore("org/recent", "org", Chore.UPLOADING, now - timedelta(minutes=5))
    uow.state.chores.update({c.key: c for c in (stale, recent)})
    store.objects.update({c.key: (b"partial", "image/png") for c in (stale, recent)})
    await images.sweep()
    assert set(uow.state.chores) == {recent.key}
    assert set(store.objects) == {kept.key, recent.key}
