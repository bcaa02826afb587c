"""Emails and contact requests in MongoDB: the repositories a transaction holds, the claim a
delivery takes on an email, and the queries that read outside a transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne

from chassis.errors import Conflict
from chassis.storage.documents import Document
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import Scope
from emails.domain import Body, Claim, Claimed, ContactRequest, Email, Status

EMAILS = "emails"
CONTACT_REQUESTS = "contact_requests"

INDEXES = {
    EMAILS: [
        IndexModel([("status", ASCENDING), ("delivered_at", DESCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("status", ASCENDING), ("delivered_at", DESCENDING)]),
        IndexModel([("tags", ASCENDING)]),
        # The sweep's: handed-over emails still pending, by the end of their claim.
        IndexModel([("status", ASCENDING), ("queued", ASCENDING), ("claimed_until", ASCENDING)]),
    ],
    CONTACT_REQUESTS: [IndexModel([("received_at", ASCENDING)])],
}


class EmailChanged(Conflict):
    """The email was settled by another delivery since it was read."""


class EmailRepository(Protocol):
    def add_new(self, email: Email, claim: Claim | None, stored: Callable[[bool], None]) -> None:
        """Store the email unless one with its id exists, sent with the others of the
        transaction in one bulk write; `stored` is told, before the commit, whether it was
        stored now. `claim`: held by this process's senders; None: left to the queue."""
        ...

    async def add(self, email: Email, claim: Claim | None) -> None: ...

    async def settle(self, email: Email) -> None:
        """Store a pending email's delivery or failure; EmailChanged if it is not pending."""
        ...

    def settle_later(self, email: Email) -> None:
        """Store a pending email's delivery or failure with the others of the transaction,
        in one bulk write (see `all_settled`)."""
        ...

    async def all_settled(self, count: int) -> None:
        """Send the settling writes of the transaction, `count` of them; EmailChanged unless
        each found its email pending."""
        ...

    async def requeue(self, email: Email, error: str) -> None:
        """Leave a pending email to the delivery queue, keeping what went wrong;
        EmailChanged if it is not pending."""
        ...


class ContactRequestRepository(Protocol):
    async def add(self, request: ContactRequest) -> None: ...


class MongoEmails:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._emails = scope.collection(EMAILS)

    def add_new(self, email: Email, claim: Claim | None, stored: Callable[[bool], None]) -> None:
        # The id is unique whatever the inbox remembers: a request seen again long after
        # its inbox record expired still stores, and sends, nothing more.
        document = email_document(email, claim)
        del document["_id"]

        def upserted(inserted: bool) -> None:
            if inserted:
                self._scope.track(email)
            stored(inserted)

        self._emails.defer(
            UpdateOne({"_id": email.id}, {"$setOnInsert": document}, upsert=True),
            upserted=upserted,
        )

    async def add(self, email: Email, claim: Claim | None) -> None:
        await self._emails.insert_one(email_document(email, claim))
        self._scope.track(email)

    async def settle(self, email: Email) -> None:
        settled = await self._emails.update_one(*_settling(email))
        if settled.matched_count == 0:
            raise EmailChanged(f"email {email.id} is no longer pending")
        self._scope.track(email)

    def settle_later(self, email: Email) -> None:
        self._emails.defer(UpdateOne(*_settling(email)))
        self._scope.track(email)

    async def all_settled(self, count: int) -> None:
        sent = await self._emails.flush()
        settled = 0 if sent is None else sent.matched_count
        if settled != count:
            raise EmailChanged(f"{count - settled} of {count} emails are no longer pending")

    async def requeue(self, email: Email, error: str) -> None:
        queued = await self._emails.update_one(
            {"_id": email.id, "status": Status.PENDING.value},
            {
                "$set": {
                    "claimed_until": None,
                    "claimed_by": None,
                    "queued": True,
                    "last_error": error[:1000],
                }
            },
        )
        if queued.matched_count == 0:
            raise EmailChanged(f"email {email.id} is no longer pending")
        self._scope.track(email)


def _settling(email: Email) -> tuple[Document, Document]:
    """The update that settles a pending email."""
    return (
        {"_id": email.id, "status": Status.PENDING.value},
        {
            "$set": {
                "status": email.status.value,
                "delivered_at": email.delivered_at,
                "failed_at": email.failed_at,
                "failure": email.failure,
            },
            "$unset": {"body": "", "claimed_until": "", "claimed_by": ""},
        },
    )


class MongoContactRequests:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._requests = scope.collection(CONTACT_REQUESTS)

    async def add(self, request: ContactRequest) -> None:
        await self._requests.insert_one(
            {
                "_id": request.id,
                "email": request.email,
                "company": request.company,
                "size": request.size,
                "message": request.message,
                "received_at": request.received_at,
            }
        )
        self._scope.track(request)


class MongoEmailsTransaction:
    def __init__(self, scope: Scope) -> None:
        self.emails = MongoEmails(scope)
        self.contact_requests = MongoContactRequests(scope)
        self.after_commit = scope.after_commit


class MongoClaims:
    """A delivery's claim on a pending email, outside any transaction: one atomic update, so
    two deliveries of one email (a redelivered message, a second instance) never both send.
    Each claim writes its own token: a claim that was taken over cannot be renewed."""

    def __init__(self, mongo: Mongo) -> None:
        self._emails = mongo.raw(EMAILS)

    async def claim(self, email_id: str, now: datetime, until: datetime) -> Claimed | None:
        """The pending email, now claimed until `until`; None when it is not pending or
        another live claim holds it."""
        claim = Claim.new(until)
        doc = await self._emails.find_one_and_update(
            {
                "_id": email_id,
                "status": Status.PENDING.value,
                "$or": [{"claimed_until": None}, {"claimed_until": {"$lte": now}}],
            },
            {"$set": _holding(claim), "$inc": {"attempts": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else Claimed(email_from(doc), claim)

    async def claim_left(self, now: datetime, until: datetime) -> Claimed | None:
        """A pending email handed over to a sender whose claim ran out (it stopped or died
        before settling it, or the email waited too long in its hands), now claimed until
        `until`; None when there is none."""
        claim = Claim.new(until)
        doc = await self._emails.find_one_and_update(
            {"status": Status.PENDING.value, "queued": False, "claimed_until": {"$lte": now}},
            {"$set": _holding(claim), "$inc": {"attempts": 1}},
            sort=[("claimed_until", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else Claimed(email_from(doc), claim)

    async def renew(self, email_id: str, claim: Claim) -> bool:
        """Extend a claim to `claim.until`, keeping its token; False when the email is no
        longer pending or another claim has replaced this one (whose holder sends it)."""
        renewed = await self._emails.update_one(
            {"_id": email_id, "status": Status.PENDING.value, "claimed_by": claim.token},
            {"$set": {"claimed_until": claim.until}},
        )
        return renewed.matched_count == 1

    async def release(self, email_id: str, claim: Claim, error: str) -> None:
        """Give the claim back after a failed attempt, keeping what went wrong (unless
        another claim has replaced it)."""
        await self._emails.update_one(
            {"_id": email_id, "status": Status.PENDING.value, "claimed_by": claim.token},
            {"$set": {"claimed_until": None, "claimed_by": None, "last_error": error[:1000]}},
        )

    async def get(self, email_id: str) -> Email | None:
        doc = await self._emails.find_one({"_id": email_id})
        return None if doc is None else email_from(doc)


def _holding(claim: Claim) -> Document:
    return {"claimed_until": claim.until, "claimed_by": claim.token}


class EmailQueries:
    """Reads that need no transaction."""

    def __init__(self, mongo: Mongo) -> None:
        self._emails = mongo.reader(EMAILS)

    async def delivered(
        self,
        tenant_id: str | None,
        since: datetime | None,
        until: datetime | None,
        tag: str | None,
        limit: int,
        offset: int,
    ) -> list[Email]:
        """Delivered emails, newest first: of one tenant, or of every one (None)."""
        query: dict[str, Any] = {"status": Status.DELIVERED.value}
        if tenant_id is not None:
            query["tenant_id"] = tenant_id
        if since is not None or until is not None:
            query["delivered_at"] = {
                **({"$gte": since} if since is not None else {}),
                **({"$lt": until} if until is not None else {}),
            }
        if tag is not None:
            query["tags"] = tag
        cursor = self._emails.find(query).sort([("delivered_at", -1), ("_id", 1)])
        return [email_from(d) async for d in cursor.skip(offset).limit(limit)]


# --- documents <-> domain ---------------------------------------------------------------------


def email_document(e: Email, claim: Claim | None) -> Document:
    return {
        "_id": e.id,
        "tenant_id": e.tenant_id,
        "to": e.to,
        "to_name": e.to_name,
        "template": e.template,
        "tags": list(e.tags),
        "subject": e.subject,
        "body": None if e.body is None else {"text": e.body.text, "html": e.body.html},
        "status": e.status.value,
        "requested_at": e.requested_at,
        "delivered_at": e.delivered_at,
        "failed_at": e.failed_at,
        "failure": e.failure,
        # Handed over to a sender in this process: its first attempt, claimed.
        "attempts": 0 if claim is None else 1,
        "claimed_until": None if claim is None else claim.until,
        "claimed_by": None if claim is None else claim.token,
        "queued": claim is None,
    }


def email_from(d: Document) -> Email:
    body = d.get("body")
    return Email(
        d["_id"],
        d.get("tenant_id"),
        d["to"],
        d.get("to_name"),
        d["template"],
        tuple(d.get("tags", ())),
        d["subject"],
        Body(body["text"], body["html"]) if body else None,
        Status(d["status"]),
        d["requested_at"],
        d.get("delivered_at"),
        d.get("failed_at"),
        d.get("failure"),
    )
