"""End users in MongoDB: the repository a transaction holds, and the queries outside one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from chassis.errors import Conflict
from chassis.storage.documents import Document
from chassis.storage.mongo import Indexes, Mongo
from chassis.storage.unit_of_work import Scope, UnitOfWork
from identity.users.domain import EndUser, Membership, UserKind

USERS = "users"
R = TypeVar("R")
TxT = TypeVar("TxT")

INDEXES: Indexes = {
    USERS: [
        # One person per address, whichever way they registered; machines have none.
        IndexModel(
            [("email", ASCENDING)],
            unique=True,
            partialFilterExpression={"email": {"$type": "string"}},
        ),
        IndexModel([("memberships.organization_id", ASCENDING), ("registered_at", ASCENDING)]),
    ]
}


class EmailTaken(Conflict):
    pass


class UserRepository(Protocol):
    async def get(self, user_id: str) -> EndUser | None: ...

    async def by_email(self, email: str) -> EndUser | None: ...

    async def add(self, user: EndUser) -> None: ...

    async def save(self, user: EndUser) -> None: ...


class MongoUsers:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._users = scope.collection(USERS)

    def _tracked(self, doc: Document | None) -> EndUser | None:
        if doc is None:
            return None
        user = user_from(doc)
        self._scope.track(user)
        return user

    async def get(self, user_id: str) -> EndUser | None:
        return self._tracked(await self._users.find_one({"_id": user_id}))

    async def by_email(self, email: str) -> EndUser | None:
        return self._tracked(await self._users.find_one({"email": email.lower()}))

    async def add(self, user: EndUser) -> None:
        try:
            await self._users.insert_one(user_document(user))
        except DuplicateKeyError as exc:
            raise EmailTaken(f"{user.email} is registered already; log in instead") from exc
        self._scope.track(user)

    async def save(self, user: EndUser) -> None:
        await self._users.replace_one({"_id": user.id}, user_document(user))


class UserQueries:
    def __init__(self, mongo: Mongo) -> None:
        self._users = mongo.reader(USERS)

    async def user(self, user_id: str) -> EndUser | None:
        doc = await self._users.find_one({"_id": user_id})
        return user_from(doc) if doc else None

    async def by_email(self, email: str) -> EndUser | None:
        doc = await self._users.find_one({"email": email.lower()})
        return user_from(doc) if doc else None

    async def tenant_of(self, user_id: str) -> str | None:
        """The organization the user acts for by default: their use cases' tenant."""
        doc = await self._users.find_one({"_id": user_id})
        return doc["default_organization_id"] if doc else None

    async def members(self, organization_id: str, limit: int, offset: int) -> list[EndUser]:
        found = (
            self._users.find({"memberships.organization_id": organization_id})
            .sort([("registered_at", ASCENDING), ("_id", ASCENDING)])
            .skip(offset)
            .limit(limit)
        )
        return [user_from(doc) async for doc in found]


class Tenancy(Protocol):
    async def tenant_of(self, user_id: str) -> str | None: ...


async def run_as(
    uow: UnitOfWork[TxT], users: Tenancy, user_id: str, work: Callable[[TxT], Awaitable[R]]
) -> R:
    """Run `work` as the user, acting for their default organization (read first: the unit
    of work names its tenant before it starts)."""
    return await uow.run(work, tenant_id=await users.tenant_of(user_id), actor_id=user_id)


# --- documents <-> domain ---------------------------------------------------------------------


def user_document(user: EndUser) -> Document:
    return {
        "_id": user.id,
        "kind": user.kind.value,
        "email": user.email.lower() if user.email else None,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "timezone": user.timezone,
        "roles": sorted(user.roles),
        "default_organization_id": user.default_organization_id,
        "registered_at": user.registered_at,
        "memberships": [
            {"organization_id": m.organization_id, "roles": sorted(m.roles)}
            for m in user.memberships
        ],
    }


def user_from(doc: Document) -> EndUser:
    return EndUser(
        doc["_id"],
        UserKind(doc["kind"]),
        doc["email"],
        doc["first_name"],
        doc["last_name"],
        doc["timezone"],
        frozenset(doc["roles"]),
        doc["default_organization_id"],
        doc["registered_at"],
        [Membership(m["organization_id"], frozenset(m["roles"])) for m in doc["memberships"]],
    )
