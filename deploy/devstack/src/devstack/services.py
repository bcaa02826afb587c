"""The one table of services: every runner, test and deployment check reads it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

GATEWAY = "gateway"


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    port: int

    @property
    def is_gateway(self) -> bool:
        return self.name == GATEWAY


SERVICES: tuple[Service, ...] = (
    Service(name="cars", module="cars", port=8101),
    Service(name="bookings", module="bookings", port=8102),
    Service(name=GATEWAY, module="gateway", port=8080),
)


def by_name(name: str) -> Service:
    for service in SERVICES:
        if service.name == name:
            return service
    known = ", ".join(s.name for s in SERVICES)
    raise KeyError(f"unknown service {name!r}; known: {known}")


def select(names: Iterable[str] | None = None) -> tuple[Service, ...]:
    """Services by name in table order; all of them when `names` is None."""
    if names is None:
        return SERVICES
    wanted = set(names)
    for name in wanted:
        by_name(name)
    return tuple(s for s in SERVICES if s.name in wanted)


def backends(services: Iterable[Service] = SERVICES) -> tuple[Service, ...]:
    """The services the gateway routes to."""
    return tuple(s for s in services if not s.is_gateway)


def upstreams_json(urls: Mapping[str, str]) -> str:
    """The gateway's UPSTREAMS setting: service name -> base URL."""
    return json.dumps(dict(urls), separators=(",", ":"), sort_keys=True)
