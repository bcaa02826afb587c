"""Delivering recorded usages to the product-analytics service, in batches, in the
background: a batch goes once it is full or its oldest usage has lingered long enough.

Each batch is claimed under a lease, so two processes never send the same one; if this one
dies after sending and before marking, the lease runs out and the batch is sent again with
the same ids, which the analytics service dedupes by. A batch the service cannot take now
(429, 5xx, no connection, after the adapter's retries), or will not take from us (our API
key refused: the usages are fine, the configuration is not), is postponed: tried again on a
later pass after a wait that grows with its attempts, and failed with the last error once it
has had them all (`Retries`). A batch it refuses for good (any other 4xx) is refused whole for
what may be one bad usage in it, so it is halved and each half sent again, down to single
usages: only a usage refused on its own is marked failed, with the service's reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from chassis.logging import get_logger
from usages.domain import Usage
from usages.repository import Claimed, PendingUsages

log = get_logger(__name__)


class AnalyticsUnavailable(Exception):
    """Not taken now (busy, down, unreachable): worth trying again later."""


class AnalyticsRefused(Exception):
    """The payload refused for good: sending it again would be refused again."""


class AnalyticsForbidden(Exception):
    """Our API key refused: no usage is at fault, so none is failed for it; they wait for the
    key to be put right (and are not retried within a pass: the answer would be the same)."""


class Analytics(Protocol):
    async def capture(self, usages: Sequence[Usage]) -> None:
        """Deliver `usages` as one batch; raises AnalyticsUnavailable, AnalyticsForbidden or
        AnalyticsRefused."""
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
            settled: set[str] = set()
            try:
                delivered += await self._send(claimed, settled)
            except (AnalyticsUnavailable, AnalyticsForbidden) as exc:
                left = claimed.without(settled)
                given_up = await self._pending.postpone(left, str(exc))
                level = log.error if isinstance(exc, AnalyticsForbidden) else log.warning
                level(
                    "usages.postponed", error=str(exc), usages=len(left.usages), given_up=given_up
                )
                return delivered
            except BaseException as exc:
                await self._pending.give_back(claimed.without(settled), repr(exc))
                raise
            if len(claimed.usages) < self._batch_size:
                return delivered

    async def _send(self, claimed: Claimed, settled: set[str]) -> int:
        """Deliver `claimed`, or as much of it as the service takes, marking each usage
        delivered or failed (and adding it to `settled`); answers how many were delivered."""
        try:
            await self._analytics.capture(claimed.usages)
        except AnalyticsRefused as exc:
            if len(claimed.usages) > 1:
                log.info("usages.refused_batch", reason=str(exc), usages=len(claimed.usages))
                first, second = claimed.halves()
                return await self._send(first, settled) + await self._send(second, settled)
            log.warning("usages.refused", reason=str(exc), usage=claimed.usages[0].id)
            await self._pending.failed(claimed, str(exc))
            settled.add(claimed.usages[0].id)
            return 0
        await self._pending.delivered(claimed)
        settled.update(u.id for u in claimed.usages)
        log.info("usages.delivered", usages=len(claimed.usages))
        return len(claimed.usages)
