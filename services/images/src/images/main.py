"""Composition root of the images service: settings, wiring, run."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from chassis.blobs.store import blob_store
from chassis.clock import Clock, utc_now
from chassis.config import BlobSettings, ServiceSettings
from chassis.jobs import Jobs
from chassis.logging import configure_logging
from chassis.messaging.bus import MessageBus
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import MongoUnitOfWork
from chassis.web.app import run, service_app
from images import api, handlers
from images.repository import INDEXES, ImageQueries, MongoImagesTransaction
from images.service import ImageService, integration_events

MIB = 1024 * 1024


class ImagesSettings(ServiceSettings, BlobSettings):
    service_name: str = "images"
    port: int = 8103
    # The largest image accepted, in bytes: one byte more is refused (413) as it streams in.
    max_image_bytes: int = Field(default=100 * MIB, ge=1)
    # How often the blobs of deleted images and of cut-off uploads are swept away: a deletion
    # the service could not finish itself (an avatar replaced, deleted on profiles' event)
    # frees its bytes within this many seconds. One indexed query each time.
    blob_sweep_seconds: float = Field(default=5.0, gt=0)


def create_app(settings: ImagesSettings, clock: Clock = utc_now) -> web.Application:
    mongo = Mongo.of(settings, INDEXES)
    bus = MessageBus(settings, mongo)
    blobs = blob_store(settings)
    uow = MongoUnitOfWork(mongo, MongoImagesTransaction, integration_events, bus.relay)
    queries = ImageQueries(mongo)
    images = ImageService(uow, blobs, queries.chores_due, settings.max_image_bytes, clock)
    handlers.subscribe(bus.subscriptions(uow), images)
    jobs = Jobs()
    jobs.every(settings.blob_sweep_seconds, "sweep_blobs", images.sweep)
    return service_app(settings, api.routes(images, queries), [mongo, blobs, bus, jobs])


def main() -> None:
    settings = ImagesSettings()
    configure_logging(settings.service_name, settings.log_level)
    run(create_app(settings), settings)
