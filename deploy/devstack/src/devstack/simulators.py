"""The one table of simulators: local servers speaking a third-party system's protocol
(libs/simulators), which `make run` and docker-compose.yml run in that system's place.

Each is its own process, `python -m <module> --host H --port P [--dir D]`, and tells the one
service that talks to it where it is through that service's settings. On Kubernetes the real
systems are used: the same settings come from a ConfigMap and a Secret named after `system`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Simulator:
    """`settings`: the client service's settings that point it here, each as (name, template
    with {host} and {port}); `secrets`: the client's credentials for the real system, each as
    (name, whether the system may do without it): a Secret's keys on Kubernetes, which the
    simulators need none of; `options`: settings the real system may need and the simulator
    does not (a ConfigMap's optional keys on Kubernetes); `keeps`: the subdirectory of the
    state directory it keeps what it received in (`--dir`), if it keeps files; `probe`: the
    HTTP path that answers 200 once it is up (none: it speaks something else, and a connection
    accepted will do); `embedded`: whether `make run` starts it (otherwise the client keeps
    its embedded default there, and only the containers use the system)."""

    name: str
    module: str
    port: int
    client: str
    system: str
    settings: tuple[tuple[str, str], ...]
    secrets: tuple[tuple[str, bool], ...] = ()
    options: tuple[str, ...] = ()
    keeps: str | None = None
    probe: str | None = None
    embedded: bool = True

    def command(self, python: str, host: str, state: Path | str | None = None) -> list[str]:
        command = [python, "-m", self.module, "--host", host, "--port", str(self.port)]
        if self.keeps is not None:
            if state is None:
                raise ValueError(f"the {self.name} simulator needs a state directory")
            command += ["--dir", str(Path(state) / self.keeps)]
        return command

    def client_env(self, host: str) -> dict[str, str]:
        """The client service's settings that point it at this simulator on `host`."""
        return {name: value.format(host=host, port=self.port) for name, value in self.settings}


SIMULATORS: tuple[Simulator, ...] = (
    # Every email sent is kept as a .eml file, so a person can open its links.
    Simulator(
        name="mailbox",
        module="simulators.mailbox",
        port=1025,
        client="emails",
        system="smtp",
        settings=(("SMTP_HOST", "{host}"), ("SMTP_PORT", "{port}")),
        secrets=(("SMTP_USERNAME", True), ("SMTP_PASSWORD", True)),
        options=("SMTP_STARTTLS", "SMTP_TLS"),
        keeps="mail",
    ),
    # PostHog's capture API; what usages delivered: GET /_simulator/events.
    Simulator(
        name="analytics",
        module="simulators.analytics",
        port=8190,
        client="usages",
        system="analytics",
        settings=(("ANALYTICS_URL", "http://{host}:{port}"),),
        secrets=(("ANALYTICS_API_KEY", False),),
        probe="/_simulator/events",
    ),
    # An OpenID Connect provider signing in whoever `login_hint` names (no login page); its
    # client id and secret are the simulator's development defaults.
    Simulator(
        name="oidc",
        module="simulators.oidc",
        port=8192,
        client="identity",
        system="sso",
        settings=(
            (
                "SSO_PROVIDERS",
                '[{{"name": "local", "issuer": "http://{host}:{port}", '
                '"client_id": "platform-local", "client_secret": "local-development-secret"}}]',
            ),
        ),
        probe="/.well-known/openid-configuration",
    ),
    # Gravatar's avatar API: an identicon for most addresses, none (404) for the others.
    Simulator(
        name="gravatar",
        module="simulators.gravatar",
        port=8193,
        client="profiles",
        system="gravatar",
        settings=(("GRAVATAR_URL", "http://{host}:{port}"),),
        probe="/_simulator/requests",
    ),
    # An S3 API server (moto's). `make run` keeps images in a local directory instead, the
    # embedded default; the containers use MinIO where a registry serves its image.
    Simulator(
        name="s3",
        module="simulators.s3",
        port=9000,
        client="images",
        system="s3",
        settings=(("BLOB_STORE", "s3"), ("S3_ENDPOINT_URL", "http://{host}:{port}")),
        secrets=(("S3_ACCESS_KEY_ID", False), ("S3_SECRET_ACCESS_KEY", False)),
        options=("S3_REGION", "S3_BUCKET"),
        embedded=False,
    ),
)


def embedded() -> tuple[Simulator, ...]:
    """The simulators `make run` starts."""
    return tuple(s for s in SIMULATORS if s.embedded)


def simulator(name: str) -> Simulator:
    for found in SIMULATORS:
        if found.name == name:
            return found
    raise KeyError(f"unknown simulator {name!r}; known: {', '.join(s.name for s in SIMULATORS)}")
