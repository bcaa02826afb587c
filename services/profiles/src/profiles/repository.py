"""Profiles in MongoDB: the repository a transaction holds, and the queries that read outside
one. One mapping each way between documents and the domain."""

from __future__ import annotations

from typing import Any, Protocol

from pymongo import ASCENDING, IndexModel

from chassis.storage.documents import Document
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import Scope
from profiles.domain import Avatar, AvatarSource, ContactAddress, Kind, Lookup, Profile

PROFILES = "profiles"

# A profile's `_id` is its user's id: MongoDB's unique index on `_id` is what keeps it one
# profile per user, whatever identity sends twice.
INDEXES = {
    PROFILES: [
        IndexModel([("tenant_id", ASCENDING)]),
        IndexModel(
            [("avatar.image_id", ASCENDING)],
            partialFilterExpression={"avatar.image_id": {"$type": "string"}},
        ),
    ],
}


class ProfileRepository(Protocol):
    async def exists(self, user_id: str) -> bool:
        """Whether the user has a profile, in any tenant."""
        ...

    async def add(self, profile: Profile) -> None: ...

    async def get(self, user_id: str) -> Profile | None:
        """The tenant's profile of the user, to change it. Concurrent transactions that get
        the same profile conflict, so neither overwrites the other's change."""
        ...

    async def showing_image(self, image_id: str) -> Profile | None:
        """The profile whose avatar is the uploaded image `image_id`, to change it."""
        ...

    async def save(self, profile: Profile) -> None: ...


class MongoProfiles:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._profiles = scope.collection(PROFILES)

    async def exists(self, user_id: str) -> bool:
        return await self._profiles.find_one({"_id": user_id}) is not None

    async def add(self, profile: Profile) -> None:
        await self._profiles.insert_one(profile_document(profile))
        self._scope.track(profile)

    async def get(self, user_id: str) -> Profile | None:
        return await self._changing({"_id": user_id, "tenant_id": self._scope.tenant})

    async def showing_image(self, image_id: str) -> Profile | None:
        # Not the event's tenant: images keeps an avatar under the organization its uploader
        # acted for, which need not be the one the profile was made for. Image ids are
        # unique across tenants.
        return await self._changing({"avatar.image_id": image_id})

    async def _changing(self, query: dict[str, Any]) -> Profile | None:
        # Bumping the version is the write that makes concurrent changes conflict.
        doc = await self._profiles.find_one_and_update(query, {"$inc": {"version": 1}})
        if doc is None:
            return None
        profile = profile_from(doc)
        self._scope.track(profile)
        return profile

    async def save(self, profile: Profile) -> None:
        fields = profile_document(profile)
        del fields["_id"], fields["version"]
        await self._profiles.update_one({"_id": profile.user_id}, {"$set": fields})


class MongoProfilesTransaction:
    def __init__(self, scope: Scope) -> None:
        self.profiles = MongoProfiles(scope)


class ProfileQueries:
    """Reads that need no transaction."""

    def __init__(self, mongo: Mongo) -> None:
        self._profiles = mongo.reader(PROFILES)

    async def profile(self, user_id: str) -> Profile | None:
        """The user's profile, whichever tenant it was made for: who may see it is the
        caller's business (the user, an operator)."""
        doc = await self._profiles.find_one({"_id": user_id})
        return profile_from(doc) if doc else None


# --- documents <-> domain ---------------------------------------------------------------------


def profile_document(profile: Profile) -> Document:
    return {
        "_id": profile.user_id,
        "tenant_id": profile.tenant_id,
        "kind": profile.kind.value,
        "email": profile.email,
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "display_name": profile.display_name,
        "phone_number": profile.phone_number,
        "timezone": profile.timezone,
        "contact": vars(profile.contact) if profile.contact else None,
        "avatar": _avatar_document(profile.avatar),
        "avatar_lookup": profile.avatar_lookup.value if profile.avatar_lookup else None,
        "created_at": profile.created_at,
        "updated_at": profile.updated_at,
        "version": 0,
    }


def _avatar_document(avatar: Avatar | None) -> Document | None:
    if avatar is None:
        return None
    return {"url": avatar.url, "source": avatar.source.value, "image_id": avatar.image_id}


def profile_from(doc: Document) -> Profile:
    contact, avatar, lookup = doc.get("contact"), doc.get("avatar"), doc.get("avatar_lookup")
    return Profile(
        user_id=doc["_id"],
        tenant_id=doc["tenant_id"],
        kind=Kind(doc["kind"]),
        email=doc.get("email"),
        first_name=doc.get("first_name"),
        last_name=doc.get("last_name"),
        display_name=doc["display_name"],
        created_at=doc["created_at"],
        phone_number=doc.get("phone_number"),
        timezone=doc.get("timezone"),
        contact=ContactAddress(**contact) if contact else None,
        avatar=(
            Avatar(avatar["url"], AvatarSource(avatar["source"]), avatar.get("image_id"))
            if avatar
            else None
        ),
        avatar_lookup=Lookup(lookup) if lookup else None,
        updated_at=doc.get("updated_at"),
    )
