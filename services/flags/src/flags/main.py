"""Composition root of the flags service: settings, the flags file, run. It keeps nothing
but the file it reads at start, so it has no MongoDB or RabbitMQ part."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from pydantic import Field

from chassis.config import WebSettings
from chassis.logging import configure_logging, get_logger
from chassis.web.app import run, service_app
from flags import api
from flags.flagfile import FlagsFileError, load_flags

log = get_logger(__name__)


class FlagsSettings(WebSettings):
    service_name: str = "flags"
    port: int = 8108
    # The deployment environment: which section of the flags file applies.
    environment: str = Field(default="development", min_length=1)
    flags_file: Path = Path("deploy/flags.yaml")


def create_app(settings: FlagsSettings) -> web.Application:
    """The app, with the flags of the settings' environment; FlagsFileError when the file is
    not valid."""
    flags = load_flags(settings.flags_file, settings.environment)
    log.info("flags.loaded", environment=settings.environment, flags=sorted(flags))
    return service_app(settings, api.routes(flags))


def main() -> None:
    settings = FlagsSettings()
    configure_logging(settings.service_name, settings.log_level)
    try:
        app = create_app(settings)
    except FlagsFileError as exc:
        log.error("flags.file_invalid", error=str(exc))
        raise SystemExit(f"flags: {exc}") from exc
    run(app, settings)
