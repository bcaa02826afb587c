"""Composition root of the provisioning service: settings, wiring, run."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from chassis.clock import Clock, utc_now
from chassis.config import ServiceSettings
from chassis.logging import configure_logging
from chassis.messaging.bus import MessageBus
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import MongoUnitOfWork
from chassis.web.app import run, service_app
from provisioning import api, handlers
from provisioning.domain import TenantDefaults
from provisioning.repository import MongoProvisioningTransaction, TenantQueries
from provisioning.service import ProvisioningService, integration_events


class ProvisioningSettings(ServiceSettings):
    service_name: str = "provisioning"
    port: int = 8107
    # What every new tenant starts with (an IANA timezone, a BCP 47 locale).
    tenant_timezone: str = "UTC"
    tenant_locale: str = Field(default="en-GB", min_length=2, max_length=35)
    tenant_data_region: str = Field(default="eu-west", min_length=1, max_length=50)
    tenant_plan: str = Field(default="trial", min_length=1, max_length=50)

    def tenant_defaults(self) -> TenantDefaults:
        return TenantDefaults(
            self.tenant_timezone, self.tenant_locale, self.tenant_data_region, self.tenant_plan
        )


def create_app(settings: ProvisioningSettings, clock: Clock = utc_now) -> web.Application:
    mongo = Mongo.of(settings)
    bus = MessageBus(settings, mongo)
    uow = MongoUnitOfWork(mongo, MongoProvisioningTransaction, integration_events, bus.relay)
    provisioning = ProvisioningService(uow, settings.tenant_defaults(), clock)
    handlers.subscribe(bus.subscriptions(uow), provisioning)
    return service_app(settings, api.routes(TenantQueries(mongo)), [mongo, bus])


def main() -> None:
    settings = ProvisioningSettings()
    configure_logging(settings.service_name, settings.log_level)
    run(create_app(settings), settings)
