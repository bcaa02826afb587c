"""The product-analytics service as PostHog's capture API (`POST /batch/`) takes usages.

https://posthog.com/docs/api/capture: each event has `event`, `distinct_id`, `properties`,
`timestamp` and `uuid` (by which PostHog dedupes a batch sent again); page views are
`$pageview`, crashes `$exception`, the tenant is the `organization` group, and an anonymous
visitor's events make no person profile. The local simulator (`simulators.analytics`)
speaks the same API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from tenacity import AsyncRetrying

from chassis.parts import Check
from chassis.retry import outbound_retry
from usages.delivery import AnalyticsForbidden, AnalyticsRefused, AnalyticsUnavailable
from usages.domain import Kind, Usage

GROUP_TYPE = "organization"
LIBRARY = "platform-usages"
# What PostHog's own libraries retry: rate limited, or the server's trouble.
RETRIED = 429
# The project API key refused (PostHog answers 401 for an unknown key).
FORBIDDEN = (401, 403)


class PostHog:
    """The `Analytics` port over HTTP; a part of the service (it holds the connection pool)."""

    def __init__(
        self, base_url: str, api_key: str, *, attempts: int = 4, timeout: float = 10.0
    ) -> None:
        self._url = base_url.rstrip("/") + "/batch/"
        self._api_key = api_key
        self._attempts = attempts
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def capture(self, usages: Sequence[Usage]) -> None:
        body = {"api_key": self._api_key, "batch": [posthog_event(u) for u in usages]}
        async for attempt in AsyncRetrying(
            **outbound_retry(self._attempts, also=(AnalyticsUnavailable,))
        ):
            with attempt:
                await self._post(body)

    async def _post(self, body: Mapping[str, Any]) -> None:
        if self._session is None:
            raise AnalyticsUnavailable("the analytics client is not started")
        try:
            async with self._session.post(self._url, json=body) as response:
                if response.status < 300:
                    return
                answer = f"{response.status}: {(await response.text())[:500]}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AnalyticsUnavailable(f"{self._url} not reached: {exc!r}") from exc
        if response.status == RETRIED or response.status >= 500:
            raise AnalyticsUnavailable(answer)
        if response.status in FORBIDDEN:
            raise AnalyticsForbidden(answer)
        raise AnalyticsRefused(answer)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def checks(self) -> Mapping[str, Check]:
        # Not a health dependency: usages wait in MongoDB while analytics is away.
        return {}


def posthog_event(usage: Usage) -> dict[str, Any]:
    event, properties = _as_posthog(usage)
    who = usage.who
    properties["$lib"] = LIBRARY
    properties["kind"] = usage.kind.value
    if who.tenant_id:
        properties["$groups"] = {GROUP_TYPE: who.tenant_id}
    if not who.identified:
        properties["$process_person_profile"] = False
    elif who.anonymous_id:
        properties["$anon_distinct_id"] = who.anonymous_id
    return {
        "event": event,
        "distinct_id": who.distinct_id,
        "properties": properties,
        "timestamp": usage.occurred_at.isoformat(),
        "uuid": usage.id,
    }


def _as_posthog(usage: Usage) -> tuple[str, dict[str, Any]]:
    """PostHog's own event names and properties for page views and crashes."""
    recorded = dict(usage.properties)
    if usage.kind is Kind.PAGEVIEW:
        path = recorded.pop("path")
        named = {"$current_url": path, "$pathname": path, "$title": recorded.pop("title", None)}
        named["$referrer"] = recorded.pop("referrer", None)
        return "$pageview", {**recorded, **_present(named)}
    if usage.kind is Kind.CRASH:
        exception = {
            "type": recorded.get("type", "Error"),
            "value": recorded.get("message", ""),
            "mechanism": {"handled": False, "synthetic": False},
        }
        named = {
            "$exception_list": [exception],
            "$exception_type": exception["type"],
            "$exception_message": exception["value"],
            "$exception_stack_trace_raw": recorded.get("stack"),
            "$current_url": recorded.get("page"),
        }
        return "$exception", _present(named)
    return usage.event, recorded


def _present(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in properties.items() if value is not None}
