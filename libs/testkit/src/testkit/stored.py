"""What a service stored for one tenant, read from its database: for checks that refused
input stored nothing. The API does not show everything a service writes (`GET /bookings`
leaves pending bookings out, and no route shows the outbox), so these checks look here."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from chassis.storage.outbox import OUTBOX

Database = AsyncDatabase[dict[str, Any]]
# A service's database by service name, as the end-to-end `database` fixture gives it.
Databases = Callable[[str], Database]


async def stored_for(database: Database, tenant_id: str) -> dict[str, int]:
    """How many documents each collection of `database` holds for the tenant, collections
    holding none left out: records carry `tenant_id`, outbox events name it in their envelope
    (the inbox records event ids only, and is not counted)."""
    counts: dict[str, int] = {}
    for name in sorted(await database.list_collection_names()):
        if name.startswith("system."):
            continue
        found = await database[name].count_documents(_of_tenant(name, tenant_id))
        if found:
            counts[name] = found
    return counts


def _of_tenant(collection: str, tenant_id: str) -> dict[str, Any]:
    if collection == OUTBOX:
        # The envelope as stored: pydantic's compact JSON.
        named = f'"tenant_id":{json.dumps(tenant_id)}'
        return {"body": {"$regex": re.escape(named)}}
    return {"tenant_id": tenant_id}
