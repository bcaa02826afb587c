"""The use cases on the in-memory unit of work."""

from __future__ import annotations

from datetime import datetime

from contracts.usages import UsageRecorded
from usages.domain import Kind, Who
from usages.service import PLATFORM, UsageService

from .conftest import UsagesUoW


async def test_a_record_is_kept_for_its_caller(
    usages: UsageService, uow: UsagesUoW, now: datetime
) -> None:
    who = Who.of("user-1", "tenant-1", None)
    usage = await usages.record(Kind.PAGEVIEW, "pageview", who, {"path": "/"})
    assert uow.state.usages == {usage.id: usage}
    assert (usage.who, usage.occurred_at, usage.kind) == (who, now, Kind.PAGEVIEW)
    assert uow.published == []


async def test_a_services_usage_event_is_kept_under_its_own_id(
    usages: UsageService, uow: UsagesUoW
) -> None:
    event = UsageRecorded(event="booking_made", properties={"hours": 3})
    await uow.deliver(usages.usage_recorded, event, tenant_id="tenant-1", actor_id="user-1")
    [usage] = uow.state.usages.values()
    assert usage.kind is Kind.EVENT and usage.event == "booking_made"
    assert usage.who == Who("user-1", True, "tenant-1")
    assert usage.properties == {"hours": 3}


async def test_an_event_with_no_actor_counts_for_its_tenant_or_the_platform(
    usages: UsageService, uow: UsagesUoW
) -> None:
    event = UsageRecorded(event="list_completed")
    await uow.deliver(usages.usage_recorded, event, tenant_id="tenant-1")
    await uow.deliver(usages.usage_recorded, event, tenant_id=None)
    whos = {u.who for u in uow.state.usages.values()}
    assert whos == {Who("tenant-1", False, "tenant-1"), Who(PLATFORM, False, None)}
