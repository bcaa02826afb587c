"""The profiles repository on the real MongoDB: what a transaction saves is what the next one
gets, within the tenant the unit of work acts for; one profile per user; the outbox gets the
events with the change."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from pymongo.errors import DuplicateKeyError

from chassis.storage.mongo import Mongo
from chassis.storage.outbox import OUTBOX
from chassis.storage.unit_of_work import MongoUnitOfWork
from contracts import Envelope
from contracts import profiles as published
from profiles.domain import Avatar, ContactAddress, Kind, Lookup, Profile, ProfileEdit
from profiles.main import ProfilesSettings
from profiles.repository import INDEXES, MongoProfilesTransaction, ProfileQueries
from profiles.service import ProfilesTransaction, integration_events
from testkit.fixtures import TestInfra

TENANT = "tenant-a"
UoW = MongoUnitOfWork[ProfilesTransaction]


@pytest.fixture
async def mongo(test_infra: TestInfra) -> AsyncIterator[Mongo]:
    settings = ProfilesSettings(**test_infra.env(f"profiles_repo_{uuid.uuid4().hex[:6]}"))
    mongo = Mongo.of(settings, INDEXES)
    await mongo.start()
    yield mongo
    await mongo.stop()


@pytest.fixture
def uow(mongo: Mongo) -> UoW:
    return MongoUnitOfWork(mongo, MongoProfilesTransaction, integration_events)


def new_profile(now: datetime) -> Profile:
    return Profile.create(
        uuid.uuid4().hex,
        TENANT,
        Kind.PERSON,
        now,
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        timezone="Europe/London",
    )


async def added(uow: UoW, profile: Profile) -> Profile:
    async def add(tx: ProfilesTransaction) -> None:
        await tx.profiles.add(profile)

    await uow.run(add, tenant_id=TENANT)
    return profile


async def test_a_saved_profile_comes_back_whole_within_its_tenant(uow: UoW, mongo: Mongo) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    profile = await added(uow, new_profile(now))

    async def change(tx: ProfilesTransaction) -> None:
        loaded = await tx.profiles.get(profile.user_id)
        assert loaded is not None
        loaded.change(ProfileEdit(phone_number="+14155552671", display_name="Ada L."), now)
        loaded.change_contact(ContactAddress("1 Main St", "Springfield", "us", zip="12345"), now)
        loaded.show_uploaded("img1", "/images/img1/download", now)
        await tx.profiles.save(loaded)

    await uow.run(change, tenant_id=TENANT)

    again = await ProfileQueries(mongo).profile(profile.user_id)
    assert again is not None
    assert (again.tenant_id, again.kind, again.email) == (TENANT, Kind.PERSON, "ada@example.com")
    assert (again.display_name, again.phone_number, again.timezone) == (
        "Ada L.",
        "+14155552671",
        "Europe/London",
    )
    assert again.contact == ContactAddress("1 Main St", "Springfield", "US", zip="12345")
    assert again.avatar == Avatar.uploaded("img1", "/images/img1/download")
    assert (again.avatar_lookup, again.created_at, again.updated_at) == (Lookup.PENDING, now, now)

    async def get(tx: ProfilesTransaction) -> Profile | None:
        return await tx.profiles.get(profile.user_id)

    assert await uow.run(get, tenant_id="tenant-b") is None
    assert await uow.run(get, tenant_id=TENANT) is not None


async def test_a_profile_shown_an_image_is_found_by_it_in_any_tenant(uow: UoW) -> None:
    now = datetime.now(UTC)
    profile = new_profile(now)
    profile.show_uploaded(image_id := uuid.uuid4().hex, "/x", now)
    await added(uow, profile)

    async def showing(tx: ProfilesTransaction, image: str) -> str | None:
        found = await tx.profiles.showing_image(image)
        return found.user_id if found else None

    assert await uow.run(lambda tx: showing(tx, image_id), tenant_id="tenant-b") == profile.user_id
    assert await uow.run(lambda tx: showing(tx, "other"), tenant_id=TENANT) is None


async def test_one_profile_per_user(uow: UoW) -> None:
    now = datetime.now(UTC)
    profile = await added(uow, new_profile(now))
    twin = Profile.create(profile.user_id, "tenant-b", Kind.PERSON, now, email="x@example.com")

    async def exists(tx: ProfilesTransaction) -> bool:
        return await tx.profiles.exists(profile.user_id)

    assert await uow.run(exists, tenant_id="tenant-b")
    with pytest.raises(DuplicateKeyError):
        await added(uow, twin)


async def test_concurrent_changes_of_a_profile_both_land(uow: UoW, mongo: Mongo) -> None:
    now = datetime.now(UTC)
    profile = await added(uow, new_profile(now))

    async def edit(edit: ProfileEdit) -> None:
        async def work(tx: ProfilesTransaction) -> None:
            loaded = await tx.profiles.get(profile.user_id)
            assert loaded is not None
            loaded.change(edit, now)
            await asyncio.sleep(0.05)
            await tx.profiles.save(loaded)

        await uow.run(work, tenant_id=TENANT)

    await asyncio.gather(
        edit(ProfileEdit(phone_number="+14155552671")), edit(ProfileEdit(timezone="Asia/Tokyo"))
    )
    again = await ProfileQueries(mongo).profile(profile.user_id)
    assert again is not None
    assert (again.phone_number, again.timezone) == ("+14155552671", "Asia/Tokyo")


async def test_the_outbox_gets_what_the_change_recorded_with_the_change(
    uow: UoW, mongo: Mongo
) -> None:
    now = datetime.now(UTC)
    profile = await added(uow, new_profile(now))
    rows = await mongo.raw(OUTBOX).find({}).to_list()
    envelopes = [Envelope.model_validate_json(r["body"]) for r in rows]
    [created] = [e for e in envelopes if e.type == published.ProfileCreated.event_type]
    assert created.tenant_id == TENANT
    assert created.payload(published.ProfileCreated).user_id == profile.user_id
