"""Composition root of the audits service: settings, wiring, run."""

from __future__ import annotations

from aiohttp import web

from audits import api, handlers
from audits.repository import INDEXES, AuditQueries, MongoAuditsTransaction
from audits.service import AuditService
from chassis.config import ServiceSettings
from chassis.logging import configure_logging
from chassis.messaging.bus import MessageBus
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import MongoUnitOfWork
from chassis.web.app import run, service_app


class AuditsSettings(ServiceSettings):
    service_name: str = "audits"
    port: int = 8105


def create_app(settings: AuditsSettings) -> web.Application:
    mongo = Mongo.of(settings, INDEXES)
    bus = MessageBus(settings, mongo)
    # Audits publishes nothing of its own: no translation; the relay has nothing to send.
    uow = MongoUnitOfWork(mongo, MongoAuditsTransaction)
    handlers.subscribe(bus.subscriptions(uow), AuditService())
    return service_app(settings, api.routes(AuditQueries(mongo)), [mongo, bus])


def main() -> None:
    settings = AuditsSettings()
    configure_logging(settings.service_name, settings.log_level)
    run(create_app(settings), settings)
