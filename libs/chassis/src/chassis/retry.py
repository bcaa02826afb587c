"""One retry policy for outbound calls (HTTP, SMTP to other systems): few tries, jittered
backoff."""

from __future__ import annotations

from typing import Any

import aiohttp
from tenacity import (
    retry_base,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

# The longest wait between two tries (jitter included: tenacity caps the sum).
LONGEST_WAIT = 2.0


def outbound_retry(
    attempts: int = 3,
    also: tuple[type[BaseException], ...] = (),
    never: tuple[type[BaseException], ...] = (),
) -> dict[str, Any]:
    """Retry connection errors and timeouts, and `also` the caller's own exceptions for
    answers worth another try (an HTTP 429 or 5xx, say), except those of `never` (a failure
    no retry on the spot can heal, e.g. a refused login)."""
    retry: retry_base = retry_if_exception_type((aiohttp.ClientError, TimeoutError, *also))
    if never:
        retry = retry & retry_if_not_exception_type(never)
    return {
        "stop": stop_after_attempt(attempts),
        # 0.1 s, 0.2 s, 0.4 s, ... capped at 2 s, each plus up to 1 s of jitter.
        "wait": wait_exponential_jitter(multiplier=0.1, max=LONGEST_WAIT),
        "retry": retry,
        "reraise": True,
    }


def longest_retried(attempts: int, timeout: float) -> float:
    """The longest a call retried by `outbound_retry(attempts)` takes, each try cut at
    `timeout` seconds."""
    return attempts * timeout + (attempts - 1) * LONGEST_WAIT
