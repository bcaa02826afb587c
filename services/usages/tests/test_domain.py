"""Who a usage is counted for, and what a usage keeps."""

from __future__ import annotations

from datetime import datetime

import pytest

from usages.domain import Kind, NobodyNamed, Usage, Who


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
