#!/usr/bin/python3
"""Healthcheck of the local mongo image: `mongo-replset HOST:PORT`.

Initiates the single-node replica set rs0 with this member's address as the other
containers reach it, on first run; exits 0 once the member is PRIMARY.
"""

import sys

from pymongo import MongoClient
from pymongo.errors import OperationFailure

NOT_YET_INITIALIZED = 94
ALREADY_INITIALIZED = 23


def main(member: str) -> int:
    client: MongoClient = MongoClient(
        "127.0.0.1", 27017, directConnection=True, serverSelectionTimeoutMS=2000
    )
    try:
        client.admin.command("replSetGetStatus")
    except OperationFailure as exc:
        if exc.code != NOT_YET_INITIALIZED:
            raise
        config = {"_id": "rs0", "members": [{"_id": 0, "host": member}]}
        try:
            client.admin.command("replSetInitiate", config)
        except OperationFailure as again:
            if again.code != ALREADY_INITIALIZED:
                raise
    return 0 if client.admin.command("hello").get("isWritablePrimary") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
