"""Invitations in MongoDB, their tokens kept as digests only."""

from __future__ import annotations

from typing import Protocol

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from chassis.errors import Conflict
from chassis.storage.documents import Document
from chassis.storage.mongo import Indexes, Mongo
from chassis.storage.unit_of_work import Scope
from identity.invitations.domain import Invitation, InvitationStatus

INVITATIONS = "invitations"

INDEXES: Indexes = {
    INVITATIONS: [
        IndexModel([("token_digest", ASCENDING)], unique=True),
        # One pending invitation per address and organization: a second is refused (resend
        # the first).
        IndexModel(
            [("organization_id", ASCENDING), ("email", ASCENDING)],
            unique=True,
            partialFilterExpression={"status": InvitationStatus.PENDING.value},
        ),
    ]
}


class AlreadyInvited(Conflict):
    pass


class InvitationRepository(Protocol):
    async def get(self, invitation_id: str) -> Invitation | None: ...

    async def by_token(self, digest: str) -> Invitation | None: ...

    async def pending(self, organization_id: str, email: str) -> Invitation | None: ...

    async def add(self, invitation: Invitation) -> None: ...

    async def save(self, invitation: Invitation) -> None: ...


class MongoInvitations:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._invitations = scope.collection(INVITATIONS)

    async def _one(self, filter: Document) -> Invitation | None:
        doc = await self._invitations.find_one(filter)
        if doc is None:
            return None
        invitation = invitation_from(doc)
        self._scope.track(invitation)
        return invitation

    async def get(self, invitation_id: str) -> Invitation | None:
        return await self._one({"_id": invitation_id})

    async def by_token(self, digest: str) -> Invitation | None:
        return await self._one({"token_digest": digest})

    async def pending(self, organization_id: str, email: str) -> Invitation | None:
        return await self._one(_pending(organization_id, email))

    async def add(self, invitation: Invitation) -> None:
        try:
            await self._invitations.insert_one(invitation_document(invitation))
        except DuplicateKeyError as exc:
            raise AlreadyInvited(
                f"{invitation.email} has a pending invitation already; resend it instead"
            ) from exc
        self._scope.track(invitation)

    async def save(self, invitation: Invitation) -> None:
        await self._invitations.replace_one({"_id": invitation.id}, invitation_document(invitation))


class InvitationQueries:
    def __init__(self, mongo: Mongo) -> None:
        self._invitations = mongo.reader(INVITATIONS)

    async def by_token(self, digest: str) -> Invitation | None:
        doc = await self._invitations.find_one({"token_digest": digest})
        return invitation_from(doc) if doc else None

    async def get(self, invitation_id: str) -> Invitation | None:
        doc = await self._invitations.find_one({"_id": invitation_id})
        return invitation_from(doc) if doc else None


def _pending(organization_id: str, email: str) -> Document:
    return {
        "organization_id": organization_id,
        "email": email.lower(),
        "status": InvitationStatus.PENDING.value,
    }


# --- documents <-> domain ---------------------------------------------------------------------


def invitation_document(invitation: Invitation) -> Document:
    return {
        "_id": invitation.id,
        # Named as every service's records name their tenant: the inviting organization.
        "tenant_id": invitation.organization_id,
        "organization_id": invitation.organization_id,
        "email": invitation.email.lower(),
        "first_name": invitation.first_name,
        "last_name": invitation.last_name,
        "invited_by": invitation.invited_by,
        "token_digest": invitation.token_digest,
        "created_at": invitation.created_at,
        "expires_at": invitation.expires_at,
        "status": invitation.status.value,
        "accepted_by": invitation.accepted_by,
        "accepted_at": invitation.accepted_at,
    }


def invitation_from(doc: Document) -> Invitation:
    return Invitation(
        doc["_id"],
        doc["organization_id"],
        doc["email"],
        doc["first_name"],
        doc["last_name"],
        doc["invited_by"],
        doc["token_digest"],
        doc["created_at"],
        doc["expires_at"],
        InvitationStatus(doc["status"]),
        doc["accepted_by"],
        doc["accepted_at"],
    )
