"""The outbound retry policy: its backoff, without tenacity's deprecated arguments."""

from __future__ import annotations

import warnings

import aiohttp
import pytest
from tenacity import AsyncRetrying, RetryCallState

from chassis.retry import LONGEST_WAIT, longest_retried, outbound_retry


def waits(attempts: int) -> list[float]:
    wait = outbound_retry()["wait"]
    state = RetryCallState(AsyncRetrying(), None, (), {})
    found = []
    for number in range(1, attempts + 1):
        state.attempt_number = number
        found.append(wait(state))
    return found


def test_the_policy_is_built_without_a_deprecation_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        outbound_retry()


def test_backoff_doubles_from_a_tenth_of_a_second_plus_jitter_up_to_two_seconds() -> None:
    for _ in range(50):
        found = waits(8)
        for number, wait in enumerate(found, start=1):
            base = 0.1 * 2 ** (number - 1)
            assert min(base, 2.0) <= wait <= min(base + 1.0, 2.0), (number, wait)
        assert found[-1] == 2.0  # 0.1 x 2^7 = 12.8 s, capped


async def test_connection_errors_are_retried_then_raised() -> None:
    calls = 0
    policy = outbound_retry(attempts=2) | {"wait": lambda _: 0}
    with pytest.raises(aiohttp.ClientConnectionError):
        async for attempt in AsyncRetrying(**policy):
            with attempt:
                calls += 1
                raise aiohttp.ClientConnectionError("refused")
    assert calls == 2


async def test_failures_named_never_are_not_retried() -> None:
    class Refused(Exception):
        pass

    class LoginRefused(Refused):
        pass

    calls = 0
    policy = outbound_retry(attempts=3, also=(Refused,), never=(LoginRefused,))
    with pytest.raises(LoginRefused):
        async for attempt in AsyncRetrying(**policy | {"wait": lambda _: 0}):
            with attempt:
                calls += 1
                raise LoginRefused("535")
    assert calls == 1


def test_the_longest_retried_call_is_every_try_and_the_longest_waits_between() -> None:
    assert max(max(waits(8)) for _ in range(50)) <= LONGEST_WAIT
    assert longest_retried(3, 10.0) == 3 * 10.0 + 2 * LONGEST_WAIT
