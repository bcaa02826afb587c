"""Delivering recorded usages to the product-analytics service, in batches, in the
background: a batch goes once it is full or its oldest usage has lingered long enough.

Each batch is claimed under a lease, so two processes never send the same one; if this one
dies after sending and before marking, the lease runs out and the batch is sent again with
the same ids, which the analytics service dedupes by. A batch the service cannot take now
(429, 5xx, no connection, after the adapter's retries) is given back and tried on a later
pass; one it refuses for good (any other 4xx) is marked failed with the reason, never sent
again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from chassis.logging import get_logger
from usages.domain import Usage
from usages.repository import PendingUsages

log = get_logger(__name__)


class AnalyticsUnavailable(Exception):
    """Not taken now (busy, down, unreachable): worth trying again later."""


class AnalyticsRefused(Exception):
    """Refused for good (the payload or the key): trying again would be refused again."""


class Analytics(Protocol):
    async def capture(self, usages: Sequence[Usage]) -> None:
        """Deliver `usages` as one batch; raises AnalyticsUnavailable or AnalyticsRefused."""
        ...


class Deliveries:
    def __init__(
        self,
        pending: PendingUsages,
        analytics: Analytics,
        *,
        batch_size: int,
        linger: timedelta,
    ) -> None:
        self._pending = pending
        self._analytics = analytics
        self._batch_size = batch_size
        self._linger = linger

    async def deliver(self) -> int:
        """Send every batch that is ready; answers how many usages were delivered."""
        delivered = 0
        while True:
            claimed = await self._pending.claim(self._batch_size, self._linger)
            if not claimed.usages:
                return delivered
            try:
                await self._analytics.capture(claimed.usages)
            except AnalyticsRefused as exc:
                log.warning("usages.refused", reason=str(exc), usages=len(claimed.usages))
                await self._pending.failed(claimed, str(exc))
            except AnalyticsUnavailable as exc:
                log.warning("usages.postponed", error=str(exc), usages=len(claimed.usages))
                await self._pending.give_back(claimed, str(exc))
                return delivered
            except BaseException as exc:
                await self._pending.give_back(claimed, repr(exc))
                raise
            else:
                await self._pending.delivered(claimed)
                delivered += len(claimed.usages)
                log.info("usages.delivered", usages=len(claimed.usages))
            if len(claimed.usages) < self._batch_size:
                return delivered
