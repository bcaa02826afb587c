"""One retry policy for outbound calls (HTTP to other systems): few tries, jittered backoff."""

from __future__ import annotations

from typing import Any

import aiohttp
from tenacity import retry_if_exception_type, stop_after_attempt, wait_exponential_jitter


def outbound_retry(attempts: int = 3, also: tuple[type[BaseException], ...] = ()) -> dict[str, Any]:
    """Retry connection errors and timeouts, and `also` the caller's own exceptions for
    answers worth another try (an HTTP 429 or 5xx, say)."""
    return {
        "stop": stop_after_attempt(attempts),
        # 0.1 s, 0.2 s, 0.4 s, ... capped at 2 s, each plus up to 1 s of jitter.
        "wait": wait_exponential_jitter(multiplier=0.1, max=2.0),
        "retry": retry_if_exception_type((aiohttp.ClientError, TimeoutError, *also)),
        "reraise": True,
    }
