from __future__ import annotations

import pytest

from gateway.ratelimit import RateLimiter, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(rate: float = 2.0, burst: int = 3, max_callers: int = 100) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    return RateLimiter(rate, burst, max_callers, clock=clock), clock


def test_a_burst_is_allowed_then_the_caller_waits_for_a_token() -> None:
    bucket, _ = limiter(rate=2.0, burst=3)
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == pytest.approx(0.5)


def test_tokens_refill_at_the_rate_up_to_the_burst() -> None:
    bucket, clock = limiter(rate=2.0, burst=3)
    for _ in range(3):
        bucket.take("a")
    clock.now += 0.5
    assert bucket.take("a") == 0.0
    assert bucket.take("a") > 0.0
    clock.now += 3600
    assert [bucket.take("a") for _ in range(4)][:3] == [0.0, 0.0, 0.0]
    assert bucket.take("a") > 0.0


def test_a_refused_request_costs_nothing() -> None:
    bucket, clock = limiter(rate=1.0, burst=1)
    bucket.take("a")
    assert bucket.take("a") == pytest.approx(1.0)
    clock.now += 0.25
    assert bucket.take("a") == pytest.approx(0.75)
    clock.now += 0.75
    assert bucket.take("a") == 0.0


def test_callers_have_their_own_buckets() -> None:
    bucket, _ = limiter(rate=1.0, burst=1)
    assert bucket.take("a") == 0.0
    assert bucket.take("a") > 0.0
    assert bucket.take("b") == 0.0


def test_buckets_idle_long_enough_to_be_full_are_dropped() -> None:
    bucket, clock = limiter(rate=2.0, burst=4)
    bucket.take("a")
    bucket.take("b")
    clock.now += 1.0
    bucket.take("c")
    assert len(bucket) == 3
    clock.now += 1.5  # a and b idle 2.5 s > 4 / 2 s; c only 1.5 s
    bucket.take("d")
    assert len(bucket) == 2


def test_the_number_of_callers_is_bounded_least_recently_used_first() -> None:
    bucket, _ = limiter(rate=1.0, burst=1, max_callers=2)
    bucket.take("a")
    bucket.take("b")
    assert bucket.take("a") > 0.0  # a is now the most recently used
    bucket.take("c")  # evicts b
    assert len(bucket) == 2
    assert bucket.take("a") > 0.0  # a kept its spent bucket
    assert bucket.take("b") == 0.0  # b starts over


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (30.0, "30")])
def test_retry_after_is_whole_seconds_at_least_one(wait: float, header: str) -> None:
    assert retry_after(wait) == header


@pytest.mark.parametrize(("rate", "burst", "max_callers"), [(0.0, 1, 1), (1.0, 0, 1), (1.0, 1, 0)])
def test_nonsense_limits_are_refused(rate: float, burst: int, max_callers: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst, max_callers)
