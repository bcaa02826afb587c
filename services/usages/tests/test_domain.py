"""Who a usage is counted for, and what a usage keeps."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from usages.domain import Kind, NobodyNamed, Retries, Usage, Who
from usages.main import UsagesSettings, retries_of


def test_a_signed_in_caller_is_counted_in_their_tenant_and_keeps_their_anonymous_past() -> None:
    who = Who.of("user-1", "tenant-1", "anon-12345678")
    assert who == Who("user-1", True, "tenant-1", "anon-12345678")


def test_an_anonymous_visitor_is_counted_by_their_anonymous_id_alone() -> None:
    assert Who.of(None, None, "anon-12345678") == Who("anon-12345678", False)


def test_nobody_named_is_refused() -> None:
    with pytest.raises(NobodyNamed):
        Who.of(None, None, None)


def test_a_usage_drops_absent_properties_and_keeps_a_given_id(now: datetime) -> None:
    who = Who.of(None, None, "anon-12345678")
    usage = Usage.record(Kind.USE, "clicked", who, now, {"a": 1, "b": None}, usage_id="e-1")
    assert (usage.id, usage.properties) == ("e-1", {"a": 1})
    fresh = Usage.record(Kind.USE, "clicked", who, now, {})
    assert fresh.id != Usage.record(Kind.USE, "clicked", who, now, {}).id


def test_retries_wait_twice_as_long_each_time_up_to_the_longest() -> None:
    retries = Retries(5, timedelta(seconds=1), timedelta(seconds=5))
    assert [retries.wait_after(n).total_seconds() for n in range(1, 6)] == [1, 2, 4, 5, 5]
    assert retries.wait_after(10_000) == timedelta(seconds=5)
    assert [retries.exhausted(n) for n in (4, 5, 6)] == [False, True, True]
    assert retries.patience() == timedelta(seconds=1 + 2 + 4 + 5)


def test_by_default_an_outage_of_a_day_is_waited_out_and_not_much_more() -> None:
    patience = retries_of(UsagesSettings()).patience()
    assert timedelta(hours=24) <= patience < timedelta(hours=24, minutes=15)
