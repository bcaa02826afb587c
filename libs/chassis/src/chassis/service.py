"""The chassis wired from settings: what every service's composition root starts from."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import timedelta

from aiohttp import web
from pymongo import IndexModel

from chassis.auth import JwksVerifier, auth_middleware
from chassis.broker import create_broker, events_exchange
from chassis.commands import CommandClient
from chassis.health import health_route
from chassis.http import context_middleware, domain_errors, problem_middleware
from chassis.inbox import INBOX, INBOX_INDEXES
from chassis.logging import configure_logging, get_logger
from chassis.messaging import Subscriptions
from chassis.mongo import Mongo
from chassis.openapi import OPENAPI_KEY, OPENAPI_ROUTE, Route, openapi_document
from chassis.outbox import OUTBOX, OUTBOX_INDEXES, OutboxRelay
from chassis.settings import ServiceSettings
from chassis.uow import UnitOfWork

log = get_logger(__name__)


class BrokerDown(Exception):
    pass


class Chassis:
    def __init__(
        self, settings: ServiceSettings, indexes: Mapping[str, Sequence[IndexModel]] | None = None
    ) -> None:
        configure_logging(settings.service_name, settings.log_level)
        self.settings = settings
        self.mongo = Mongo(settings.mongo_url, settings.database_name)
        self.broker = create_broker(settings)
        self.relay = OutboxRelay(
            self.mongo,
            self.broker,
            events_exchange(settings),
            batch_size=settings.outbox_batch_size,
            lease=timedelta(seconds=settings.outbox_lease_seconds),
            poll_interval=settings.outbox_poll_seconds,
        )
        self.uow = UnitOfWork(self.mongo, self.relay)
        self.subscriptions = Subscriptions(settings, self.broker, self.uow)
        self.commands = CommandClient(self.broker, settings.service_name)
        self.verifier = JwksVerifier(
            settings.jwks_url,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            cache_seconds=settings.jwks_cache_seconds,
        )
        self._indexes = {OUTBOX: OUTBOX_INDEXES, INBOX: INBOX_INDEXES, **(indexes or {})}
        self._jobs: list[tuple[str, float, Callable[[], Awaitable[object]]]] = []
        self._job_tasks: list[asyncio.Task[None]] = []

    def every(self, seconds: float, name: str, job: Callable[[], Awaitable[object]]) -> None:
        """Run `job` every `seconds` while the service runs; a failing run is only logged."""
        self._jobs.append((name, seconds, job))

    @staticmethod
    async def _repeat(name: str, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                log.exception("job.failed", job=name)

    async def start(self) -> None:
        await self.mongo.ensure_indexes(self._indexes)
        await self.broker.connect()
        await self.subscriptions.declare()
        await self.broker.start()
        await self.commands.start()
        self.relay.start()
        self._job_tasks = [
            asyncio.create_task(self._repeat(*job), name=job[0]) for job in self._jobs
        ]
        log.info("service.started", port=self.settings.port)

    async def stop(self) -> None:
        for task in self._job_tasks:
            task.cancel()
        await asyncio.gather(*self._job_tasks, return_exceptions=True)
        await self.relay.stop()
        for subscriber in self.broker.subscribers:
            await subscriber.stop()
        await self.subscriptions.drain()
        await self.broker.stop()
        await self.mongo.close()
        log.info("service.stopped")

    async def _broker_ping(self) -> None:
        if not await self.broker.ping(timeout=1.0):
            raise BrokerDown("broker does not answer")

    def web_app(
        self,
        routes: Sequence[Route],
        errors: Mapping[type[Exception], int] | None = None,
    ) -> web.Application:
        """The service's aiohttp app; `errors` maps its domain exceptions to HTTP statuses.

        Adds `GET /health` and `GET /openapi.json`, the document of every route it serves.
        """
        app = web.Application(
            middlewares=[
                context_middleware,
                problem_middleware,
                auth_middleware(self.verifier),
                domain_errors(errors or {}),
            ]
        )
        health = health_route(
            self.settings.service_name, {"mongo": self.mongo.ping, "broker": self._broker_ping}
        )
        served = [*routes, health, OPENAPI_ROUTE]
        app.add_routes([route.definition() for route in served])
        app[OPENAPI_KEY] = openapi_document(self.settings.service_name, served)

        async def lifecycle(_: web.Application) -> AsyncIterator[None]:
            await self.start()
            yield
            await self.stop()

        app.cleanup_ctx.append(lifecycle)
        return app

    def run(self, app: web.Application) -> None:
        web.run_app(
            app, host=self.settings.host, port=self.settings.port, access_log=None, print=None
        )
