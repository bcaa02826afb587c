"""Composition root of the usages service: settings, wiring, run."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from pydantic import Field, SecretStr

from chassis.clock import Clock, utc_now
from chassis.config import ServiceSettings
from chassis.jobs import Jobs
from chassis.logging import configure_logging
from chassis.messaging.bus import MessageBus
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import MongoUnitOfWork
from chassis.web.app import run, service_app
from usages import api, handlers
from usages.delivery import Deliveries
from usages.domain import Retries
from usages.posthog import PostHog
from usages.repository import INDEXES, MongoUsagesTransaction, PendingUsages
from usages.service import UsageService


class UsagesSettings(ServiceSettings):
    service_name: str = "usages"
    port: int = 8106
    # PostHog's capture API; by default the local simulator `make run` starts
    # (`python -m simulators.analytics`). PostHog Cloud: https://us.i.posthog.com.
    analytics_url: str = "http://127.0.0.1:8190"
    analytics_api_key: SecretStr = SecretStr("phc_local_development")
    # A batch goes when it holds this many usages, or its oldest has waited `linger`.
    analytics_batch_size: int = Field(default=100, ge=1, le=1000)
    analytics_linger_seconds: float = Field(default=1.0, ge=0)
    # How often pending usages are looked for.
    analytics_poll_seconds: float = Field(default=0.2, gt=0)
    # Tries of one batch in one pass (jittered backoff between) before it waits for the next.
    analytics_attempts: int = Field(default=4, ge=1)
    # Passes a usage is tried in before it is failed with the last error; between passes it
    # waits 1 s, doubling up to 15 min: 1 + 2 + ... + 512 s, then 95 waits of 15 min, is an
    # outage of 24 h waited out (plus the passes' own tries).
    analytics_max_attempts: int = Field(default=106, ge=1)
    analytics_retry_wait_seconds: float = Field(default=1.0, ge=0)
    analytics_retry_wait_max_seconds: float = Field(default=900.0, ge=0)
    analytics_timeout_seconds: float = Field(default=10.0, gt=0)
    # A claimed batch no one marked (its process died) is sent again after this.
    analytics_lease_seconds: float = Field(default=60.0, gt=0)


def create_app(settings: UsagesSettings, clock: Clock = utc_now) -> web.Application:
    mongo = Mongo.of(settings, INDEXES)
    bus = MessageBus(settings, mongo)
    uow = MongoUnitOfWork(mongo, MongoUsagesTransaction, None, bus.relay)
    usages = UsageService(uow, clock)
    handlers.subscribe(bus.subscriptions(uow), usages)
    analytics = PostHog(
        settings.analytics_url,
        settings.analytics_api_key.get_secret_value(),
        attempts=settings.analytics_attempts,
        timeout=settings.analytics_timeout_seconds,
    )
    deliveries = Deliveries(
        PendingUsages(
            mongo, timedelta(seconds=settings.analytics_lease_seconds), retries_of(settings)
        ),
        analytics,
        batch_size=settings.analytics_batch_size,
        linger=timedelta(seconds=settings.analytics_linger_seconds),
    )
    jobs = Jobs()
    jobs.every(settings.analytics_poll_seconds, "deliver_usages", deliveries.deliver)
    return service_app(settings, api.routes(usages), [mongo, bus, analytics, jobs])


def retries_of(settings: UsagesSettings) -> Retries:
    return Retries(
        settings.analytics_max_attempts,
        timedelta(seconds=settings.analytics_retry_wait_seconds),
        timedelta(seconds=settings.analytics_retry_wait_max_seconds),
    )


def main() -> None:
    settings = UsagesSettings()
    configure_logging(settings.service_name, settings.log_level)
    run(create_app(settings), settings)
