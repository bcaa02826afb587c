"""SSO links in MongoDB, one per provider and subject."""

from __future__ import annotations

from typing import Protocol

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from chassis.errors import Conflict
from chassis.storage.documents import Document
from chassis.storage.mongo import Indexes, Mongo
from chassis.storage.unit_of_work import Scope
from identity.sso.domain import SsoLink

SSO_LINKS = "sso_links"

INDEXES: Indexes = {SSO_LINKS: [IndexModel([("user_id", ASCENDING)])]}


class SsoLinkRepository(Protocol):
    async def get(self, provider: str, subject: str) -> SsoLink | None: ...

    async def add(self, link: SsoLink) -> None: ...


class MongoSsoLinks:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._links = scope.collection(SSO_LINKS)

    async def get(self, provider: str, subject: str) -> SsoLink | None:
        doc = await self._links.find_one({"_id": _key(provider, subject)})
        if doc is None:
            return None
        link = SsoLink(doc["provider"], doc["subject"], doc["user_id"], doc["linked_at"])
        self._scope.track(link)
        return link

    async def add(self, link: SsoLink) -> None:
        try:
            await self._links.insert_one(_document(link))
        except DuplicateKeyError as exc:
            # Two first sign-ins of one person at once: the other made the link.
            raise Conflict("this sign-in raced another of the same person; sign in again") from exc
        self._scope.track(link)


class SsoLinkQueries:
    def __init__(self, mongo: Mongo) -> None:
        self._links = mongo.reader(SSO_LINKS)

    async def user_of(self, provider: str, subject: str) -> str | None:
        doc = await self._links.find_one({"_id": _key(provider, subject)})
        return str(doc["user_id"]) if doc else None


def _key(provider: str, subject: str) -> str:
    return f"{provider}:{subject}"


def _document(link: SsoLink) -> Document:
    return {
        "_id": _key(link.provider, link.subject),
        "provider": link.provider,
        "subject": link.subject,
        "user_id": link.user_id,
        "linked_at": link.linked_at,
    }
