"""What the audits service may do in MongoDB: append to the trail and read it; no more.

A collection validator cannot keep the trail append-only: it judges only the document a
write leaves behind, so an update that keeps an entry well-formed passes, and a delete is
never judged at all. Capped and time-series collections refuse some changes, but take no
writes inside a multi-document transaction, where the inbox must write with the entry.
MongoDB's access control is what refuses: connected as a user holding only this role, the
service inserts and finds entries, and MongoDB answers any update, replace, delete, drop or
collMod of the trail with Unauthorized (code 13). A deployment that runs MongoDB with access
control grants it once, as a user administrator (`ADMIN_MONGO_URL`), with
`AUDITS_MONGO_PASSWORD=... python -m audits.access --database audits --user audits`, and gives
the service that user's credentials in MONGO_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from audits.repository import ENTRIES
from chassis.storage.inbox import INBOX
from chassis.storage.outbox import OUTBOX

ROLE = "auditsAppender"
ROLE_EXISTS = 51002
USER_EXISTS = 51003


def privileges(database: str) -> list[dict[str, Any]]:
    """Entries and the inbox: insert and find (the inbox's expiry is MongoDB's own doing).
    The outbox stays empty, but the chassis' relay polls it and would mark rows sent."""

    def on(collection: str, *actions: str) -> dict[str, Any]:
        return {
            "resource": {"db": database, "collection": collection},
            "actions": [*actions, "createIndex"],
        }

    return [
        on(ENTRIES, "find", "insert"),
        on(INBOX, "find", "insert"),
        on(OUTBOX, "find", "update"),
    ]


async def grant(admin: AsyncMongoClient[Any], database: str, user: str, password: str) -> None:
    """Make (or bring up to date) the role on `database` and a user holding only it."""
    db = admin[database]
    try:
        await db.command("createRole", ROLE, privileges=privileges(database), roles=[])
    except OperationFailure as exc:
        if exc.code != ROLE_EXISTS:
            raise
        await db.command("updateRole", ROLE, privileges=privileges(database), roles=[])
    try:
        await db.command("createUser", user, pwd=password, roles=[ROLE])
    except OperationFailure as exc:
        if exc.code != USER_EXISTS:
            raise
        await db.command("updateUser", user, pwd=password, roles=[ROLE])


def main() -> None:
    parser = argparse.ArgumentParser(description="Grant the audits service its append-only user.")
    parser.add_argument("--database", default="audits")
    parser.add_argument("--user", default="audits")
    args = parser.parse_args()
    # Secrets from the environment, never the command line (which `ps` shows to everyone).
    admin_url, password = os.environ.get("ADMIN_MONGO_URL"), os.environ.get("AUDITS_MONGO_PASSWORD")
    if not admin_url or not password:
        parser.error("set ADMIN_MONGO_URL (a user administrator) and AUDITS_MONGO_PASSWORD")

    async def run() -> None:
        admin: AsyncMongoClient[Any] = AsyncMongoClient(admin_url)
        try:
            await grant(admin, args.database, args.user, password)
        finally:
            await admin.close()

    asyncio.run(run())
    print(f"audits: {args.user} on {args.database} may append to the trail and read it, no more")


if __name__ == "__main__":
    main()
