"""The one table of services: every runner, test and deployment check reads it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

GATEWAY = "gateway"
# The service that issues access tokens: every service trusts the keys it publishes here.
ISSUER = "identity"
JWKS_PATH = "/.well-known/jwks.json"


@dataclass(frozen=True)
class Service:
    """One process of the platform. `prefixes` are the public paths the gateway sends it;
    `stores`: whether it has a MongoDB database and talks over RabbitMQ; `files`: the files of
    the repository it reads, each as (the setting naming its path, the repository path);
    `secrets`: settings that hold a secret of its own, which have a development default and
    on Kubernetes come from the Secret named after the service; `calls`: the services it calls
    over HTTP (a body too large for a message), each found at its `<NAME>_URL` setting."""

    name: str
    module: str
    port: int
    prefixes: tuple[str, ...] = ()
    stores: bool = True
    files: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()
    calls: tuple[str, ...] = ()

    @property
    def is_gateway(self) -> bool:
        return self.name == GATEWAY


SERVICES: tuple[Service, ...] = (
    Service(
        name="identity",
        module="identity",
        port=8109,
        prefixes=(
            "/credentials",
            "/tokens",
            "/users",
            "/organizations",
            "/invitations",
            "/signing-keys",
            "/sso",
            # The pages the emailed links open, until the website serves them.
            "/confirm-registration",
            "/reset-password",
            "/accept-invitation",
            "/.well-known",
            "/apikeys",
            "/machines",
        ),
        secrets=("SIGNING_KEY_PASSPHRASE",),
    ),
    Service(name="cars", module="cars", port=8101, prefixes=("/cars",)),
    Service(name="images", module="images", port=8103, prefixes=("/images",)),
    # An avatar upload streams through profiles to images.
    Service(
        name="profiles", module="profiles", port=8110, prefixes=("/profiles",), calls=("images",)
    ),
    Service(name="bookings", module="bookings", port=8102, prefixes=("/bookings",)),
    Service(name="usages", module="usages", port=8106, prefixes=("/record",)),
    Service(name="audits", module="audits", port=8105, prefixes=("/audits",)),
    Service(name="emails", module="emails", port=8104, prefixes=("/emails", "/contact-sales")),
    Service(name="provisioning", module="provisioning", port=8107, prefixes=("/tenants",)),
    Service(
        name="flags",
        module="flags",
        port=8108,
        prefixes=("/flags",),
        stores=False,
        files=(("FLAGS_FILE", "deploy/flags.yaml"),),
    ),
    Service(name=GATEWAY, module="gateway", port=8080, stores=False),
)


def by_name(name: str) -> Service:
    for service in SERVICES:
        if service.name == name:
            return service
    known = ", ".join(s.name for s in SERVICES)
    raise KeyError(f"unknown service {name!r}; known: {known}")


def url_setting(service: str) -> str:
    """The setting a caller finds `service` at (`calls`)."""
    return f"{service.upper()}_URL"


def backends(services: Iterable[Service] = SERVICES) -> tuple[Service, ...]:
    """The services the gateway routes to."""
    return tuple(s for s in services if not s.is_gateway)


def upstreams_json(urls: Mapping[str, str]) -> str:
    """The gateway's UPSTREAMS setting: service name -> base URL."""
    return json.dumps(dict(urls), separators=(",", ":"), sort_keys=True)


def routes_json(services: Iterable[Service] = SERVICES) -> str:
    """The gateway's ROUTES setting: public path prefix -> service name."""
    routes = {prefix: s.name for s in backends(services) for prefix in s.prefixes}
    return json.dumps(routes, separators=(",", ":"), sort_keys=True)
