"""The images repository on the real MongoDB: what a transaction saves is what the next one
gets, within the tenant the unit of work acts for; the sweep's read finds what is due."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from chassis.storage.mongo import Mongo
from chassis.storage.outbox import OUTBOX
from chassis.storage.unit_of_work import MongoUnitOfWork
from contracts import Envelope
from images.domain import Actor, BlobChore, Chore, Content, Image
from images.formats import ImageKind
from images.main import ImagesSettings
from images.repository import CHORES, INDEXES, ImageQueries, MongoImagesTransaction
from images.service import ImagesTransaction, integration_events
from testkit.fixtures import TestInfra

TENANT = "tenant-a"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def mongo(test_infra: TestInfra) -> AsyncIterator[Mongo]:
    settings = ImagesSettings(**test_infra.env(f"images_repo_{uuid.uuid4().hex[:6]}"))
    mongo = Mongo.of(settings, INDEXES)
    await mongo.start()
    yield mongo
    await mongo.stop()


@pytest.fixture
def uow(mongo: Mongo) -> MongoUnitOfWork[ImagesTransaction]:
    return MongoUnitOfWork(mongo, MongoImagesTransaction, integration_events)


def new_image(avatar_of: str | None = None) -> Image:
    content = Content(uuid.uuid4().hex, TENANT, ImageKind.GIF, 42, "cd" * 32)
    return Image.upload(Actor("u1", TENANT), content, "A dog", "dog.gif", avatar_of, NOW)


async def test_an_image_comes_back_as_saved_for_its_tenant_only(
    uow: MongoUnitOfWork[ImagesTransaction], mongo: Mongo
) -> None:
    image = new_image(avatar_of="u1")

    async def add(tx: ImagesTransaction) -> None:
        await tx.images.add(image)

    await uow.run(add, tenant_id=TENANT, actor_id="u1")
    image.forget_recorded()

    async def get(tx: ImagesTransaction) -> Image | None:
        return await tx.images.get(image.id)

    assert await uow.run(get, tenant_id=TENANT) == image
    assert await uow.run(get, tenant_id="tenant-b") is None
    assert await ImageQueries(mongo).image(image.id) == image

    async def describe(tx: ImagesTransaction) -> None:
        found = await tx.images.get(image.id)
        assert found is not None
        found.describe(Actor("u1", TENANT), "A good dog")
        await tx.images.save(found)

    await uow.run(describe, tenant_id=TENANT, actor_id="u1")
    described = await ImageQueries(mongo).image(image.id)
    assert described is not None and described.description == "A good dog"

    outbox = [Envelope.model_validate_json(d["body"]) async for d in mongo.raw(OUTBOX).find({})]
    kinds = [e.type for e in outbox if e.type.startswith("images.")]
    assert kinds == ["images.image_uploaded", "images.image_described"]
    assert {e.tenant_id for e in outbox} == {TENANT}


async def test_a_deletion_removes_the_image_and_records_its_blob(
    uow: MongoUnitOfWork[ImagesTransaction], mongo: Mongo
) -> None:
    image = new_image()

    async def add(tx: ImagesTransaction) -> None:
        await tx.images.add(image)

    async def delete(tx: ImagesTransaction) -> None:
        found = await tx.images.get(image.id)
        assert found is not None
        found.delete(None)
        await tx.images.remove(found)
        await tx.chores.add(BlobChore(found.key, TENANT, Chore.DELETING, NOW))

    await uow.run(add, tenant_id=TENANT)
    await uow.run(delete, tenant_id=TENANT)
    assert await ImageQueries(mongo).image(image.id) is None
    assert [c.key for c in await ImageQueries(mongo).chores_due(NOW)] == [image.key]


async def test_the_sweep_finds_deletions_and_uploads_started_before_a_moment(
    uow: MongoUnitOfWork[ImagesTransaction], mongo: Mongo
) -> None:
    hour = timedelta(hours=1)
    chores = [
        BlobChore("a/old-upload", "a", Chore.UPLOADING, NOW - 2 * hour),
        BlobChore("b/new-upload", "b", Chore.UPLOADING, NOW),
        BlobChore("c/deleted", "c", Chore.DELETING, NOW),
    ]
    for chore in chores:

        async def add(tx: ImagesTransaction, chore: BlobChore = chore) -> None:
            await tx.chores.add(chore)

        await uow.run(add, tenant_id=chore.tenant_id)
    due = await ImageQueries(mongo).chores_due(NOW - hour)
    assert sorted(c.key for c in due) == ["a/old-upload", "c/deleted"]
    assert due[0] == chores[0]

    async def remove(tx: ImagesTransaction) -> None:
        await tx.chores.remove("a/old-upload")

    await uow.run(remove, tenant_id="a")
    assert await mongo.raw(CHORES).count_documents({}) == 2
