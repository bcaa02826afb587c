"""Password credentials in MongoDB: one per person, keyed by the user's id; emailed tokens
kept as digests only."""

from __future__ import annotations

from typing import Protocol

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from chassis.storage.documents import Document
from chassis.storage.mongo import Indexes, Mongo
from chassis.storage.unit_of_work import Scope
from identity.credentials.domain import PasswordCredential, PendingToken
from identity.users.repository import EmailTaken

CREDENTIALS = "credentials"

_DIGESTS = {"$type": "string"}
INDEXES: Indexes = {
    CREDENTIALS: [
        IndexModel([("email", ASCENDING)], unique=True),
        IndexModel(
            [("confirmation.digest", ASCENDING)],
            partialFilterExpression={"confirmation.digest": _DIGESTS},
        ),
        IndexModel(
            [("reset.digest", ASCENDING)], partialFilterExpression={"reset.digest": _DIGESTS}
        ),
    ]
}


class CredentialRepository(Protocol):
    async def by_email(self, email: str) -> PasswordCredential | None: ...

    async def by_confirmation(self, digest: str) -> PasswordCredential | None: ...

    async def by_reset(self, digest: str) -> PasswordCredential | None: ...

    async def add(self, credential: PasswordCredential) -> None: ...

    async def save(self, credential: PasswordCredential) -> None: ...


class MongoCredentials:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._credentials = scope.collection(CREDENTIALS)

    async def _one(self, filter: Document) -> PasswordCredential | None:
        doc = await self._credentials.find_one(filter)
        if doc is None:
            return None
        credential = credential_from(doc)
        self._scope.track(credential)
        return credential

    async def by_email(self, email: str) -> PasswordCredential | None:
        return await self._one({"email": email.lower()})

    async def by_confirmation(self, digest: str) -> PasswordCredential | None:
        return await self._one({"confirmation.digest": digest})

    async def by_reset(self, digest: str) -> PasswordCredential | None:
        return await self._one({"reset.digest": digest})

    async def add(self, credential: PasswordCredential) -> None:
        try:
            await self._credentials.insert_one(credential_document(credential))
        except DuplicateKeyError as exc:
            raise EmailTaken(f"{credential.email} is registered already; log in instead") from exc
        self._scope.track(credential)

    async def save(self, credential: PasswordCredential) -> None:
        await self._credentials.replace_one(
            {"_id": credential.user_id}, credential_document(credential)
        )


class CredentialQueries:
    def __init__(self, mongo: Mongo) -> None:
        self._credentials = mongo.reader(CREDENTIALS)

    async def by_email(self, email: str) -> PasswordCredential | None:
        doc = await self._credentials.find_one({"email": email.lower()})
        return credential_from(doc) if doc else None

    async def by_confirmation(self, digest: str) -> PasswordCredential | None:
        doc = await self._credentials.find_one({"confirmation.digest": digest})
        return credential_from(doc) if doc else None

    async def by_reset(self, digest: str) -> PasswordCredential | None:
        doc = await self._credentials.find_one({"reset.digest": digest})
        return credential_from(doc) if doc else None


# --- documents <-> domain ---------------------------------------------------------------------


def _token(token: PendingToken | None) -> Document | None:
    return None if token is None else {"digest": token.digest, "expires_at": token.expires_at}


def _pending(doc: Document | None) -> PendingToken | None:
    return None if doc is None else PendingToken(doc["digest"], doc["expires_at"])


def credential_document(credential: PasswordCredential) -> Document:
    return {
        "_id": credential.user_id,
        "email": credential.email.lower(),
        "first_name": credential.first_name,
        "password_hash": credential.password_hash,
        "confirmed": credential.confirmed,
        "confirmation": _token(credential.confirmation),
        "failed_attempts": credential.failed_attempts,
        "locked_until": credential.locked_until,
        "reset": _token(credential.reset),
    }


def credential_from(doc: Document) -> PasswordCredential:
    return PasswordCredential(
        doc["_id"],
        doc["email"],
        doc["first_name"],
        doc["password_hash"],
        doc["confirmed"],
        _pending(doc["confirmation"]),
        doc["failed_attempts"],
        doc["locked_until"],
        _pending(doc["reset"]),
    )
