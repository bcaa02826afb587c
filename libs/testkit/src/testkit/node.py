"""A service made of the chassis parts and nothing of its own, for tests and benchmarks of
the chassis: its MongoDB, its message bus, and a unit of work whose transaction object is the
scope itself (`tx.collection(...)`, `tx.publish(...)`).

`python -m testkit.node` runs one as a process, its settings from the environment
(`SERVICE_NAME`, `MONGO_DB`, `FAULT_POINT`, ...): a relay of that service's outbox that a
crash test can kill or stall at a fault point.
"""

from __future__ import annotations

from aiohttp import web
from faststream.rabbit import RabbitBroker

from chassis.config import ServiceSettings
from chassis.logging import configure_logging
from chassis.messaging.bus import MessageBus
from chassis.messaging.relay import Publish
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import MongoUnitOfWork, Scope
from chassis.web.app import run, service_app
from chassis.web.openapi import Route


class Node:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        broker: RabbitBroker | None = None,
        publish: Publish | None = None,
    ) -> None:
        """`start()` it, or serve its `web_app`; `broker` and `publish` as MessageBus takes
        them (the defaults unless given)."""
        self.settings = settings
        self.mongo = Mongo.of(settings)
        self.bus = MessageBus(settings, self.mongo, broker=broker, publish=publish)
        self.uow: MongoUnitOfWork[Scope] = MongoUnitOfWork(
            self.mongo, lambda scope: scope, after_commit=self.bus.relay
        )
        self.subscriptions = self.bus.subscriptions(self.uow)
        self._started: list[Mongo | MessageBus] = []

    async def start(self) -> None:
        for part in (self.mongo, self.bus):
            await part.start()
            self._started.append(part)

    async def stop(self) -> None:
        while self._started:
            await self._started.pop().stop()

    def web_app(self, routes: list[Route]) -> web.Application:
        """The node as a service over HTTP: serving the app starts and stops the node."""
        return service_app(self.settings, routes, [self.mongo, self.bus])


def main() -> None:
    settings = ServiceSettings()  # SERVICE_NAME and the rest from the environment
    configure_logging(settings.service_name, settings.log_level)
    run(Node(settings).web_app([]), settings)


if __name__ == "__main__":
    main()
