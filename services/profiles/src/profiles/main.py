"""Composition root of the profiles service: settings, wiring, run."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from chassis.clock import Clock, utc_now
from chassis.config import ServiceSettings
from chassis.logging import configure_logging
from chassis.messaging.bus import MessageBus
from chassis.parts import Part
from chassis.storage.mongo import Mongo
from chassis.storage.unit_of_work import MongoUnitOfWork
from chassis.web.app import run, service_app
from profiles import api, handlers
from profiles.gravatar import GravatarAvatars, NoAvatars
from profiles.images import HttpAvatarImages
from profiles.repository import INDEXES, MongoProfilesTransaction, ProfileQueries
from profiles.service import AvatarFinder, ProfileService, integration_events


class ProfilesSettings(ServiceSettings):
    service_name: str = "profiles"
    port: int = 8110
    # Where a person's default avatar is looked for: Gravatar, or nowhere (offline).
    avatar_lookup: Literal["gravatar", "off"] = "gravatar"
    gravatar_url: str = Field(default="https://gravatar.com", pattern=r"^https?://")
    # The avatar's size in pixels, as Gravatar serves it (1 to 2048).
    gravatar_size: int = Field(default=200, ge=1, le=2048)
    gravatar_timeout_seconds: float = Field(default=5.0, gt=0)
    images_url: str = Field(default="http://127.0.0.1:8103", pattern=r"^https?://")
    # How long images may stay silent during an upload before it is given up (503).
    images_timeout_seconds: float = Field(default=30.0, gt=0)


def create_app(settings: ProfilesSettings, clock: Clock = utc_now) -> web.Application:
    mongo = Mongo.of(settings, INDEXES)
    bus = MessageBus(settings, mongo)
    uow = MongoUnitOfWork(mongo, MongoProfilesTransaction, integration_events, bus.relay)
    images = HttpAvatarImages(settings.images_url, timeout=settings.images_timeout_seconds)
    parts: list[Part] = [mongo, images]
    finder: AvatarFinder = NoAvatars()
    if settings.avatar_lookup == "gravatar":
        gravatar = GravatarAvatars(
            settings.gravatar_url,
            size=settings.gravatar_size,
            timeout=settings.gravatar_timeout_seconds,
        )
        parts.append(gravatar)
        finder = gravatar
    profiles = ProfileService(uow, ProfileQueries(mongo), finder, images, clock)
    handlers.subscribe(bus.subscriptions(uow), profiles)
    # The bus starts after the HTTP clients its handlers use, and stops before them.
    return service_app(settings, api.routes(profiles), [*parts, bus])


def main() -> None:
    settings = ProfilesSettings()
    configure_logging(settings.service_name, settings.log_level)
    run(create_app(settings), settings)
