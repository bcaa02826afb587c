"""The container and Kubernetes files, written from the service table: `make generate`.

docker-compose.yml, deploy/docker/offline.yml and deploy/k8s/ are rendered from
`devstack.services.SERVICES`, so a service added to the table appears in all of them;
deploy/devstack/tests/test_generated.py fails while a committed file differs from what this
module writes. The YAML is written as text, not dumped, to keep it commented and in the order
a reader expects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devstack.infra import (
    AMQP_PASSWORD,
    AMQP_PORT,
    AMQP_USER,
    MONGO_PORT,
    REPLICA_SET,
    TRANSACTION_LIFETIME_SECONDS,
)
from devstack.paths import repo_root
from devstack.services import (
    ISSUER,
    JWKS_PATH,
    SERVICES,
    Service,
    backends,
    by_name,
    routes_json,
    upstreams_json,
    url_setting,
)
from devstack.simulators import SIMULATORS, Simulator

TABLE = "deploy/devstack/src/devstack/services.py"
COMPOSE_FILE = "docker-compose.yml"
OFFLINE_FILE = "deploy/docker/offline.yml"
K8S_DIR = "deploy/k8s"
K8S_FILES = "files"
CONFIG_MAP = "platform-config"

# Addresses and files inside the containers, the same under compose and Kubernetes.
MONGO_URL = f"mongodb://mongo:{MONGO_PORT}/?replicaSet={REPLICA_SET}"
AMQP_URL = f"amqp://{AMQP_USER}:{AMQP_PASSWORD}@rabbitmq:{AMQP_PORT}/"
# Every service trusts the keys identity publishes.
JWKS_URL = f"http://{ISSUER}:{by_name(ISSUER).port}{JWKS_PATH}"
# Where a service finds the repository files it reads (the table's `files`).
FILES_DIR = "/run/files"

# Images a registry serves; deploy/docker/offline.yml replaces them with local builds.
PYTHON_IMAGE = "python:3.11-slim"
MONGO_IMAGE = "mongo:6.0"
RABBITMQ_IMAGE = "rabbitmq:3-management"
LOCAL_DEBIAN_IMAGE = "platform-local/debian:bookworm"
LOCAL_PYTHON_IMAGE = "platform-local/python:3.11"
LOCAL_MONGO_IMAGE = "platform-local/mongo:6.0"
LOCAL_RABBITMQ_IMAGE = "platform-local/rabbitmq:3"
# The simulators (devstack.simulators) run in the containers too, each built from ./Dockerfile
# as platform/<name>-simulator. Some have a real system's image in their place where a registry
# serves it (RealImage); offline, the simulator runs under the real system's name.
MAILPIT_IMAGE = "axllent/mailpit"
MAILPIT_UI_PORT = 8025
MINIO_IMAGE = "minio/minio"
MINIO_CONSOLE_PORT = 9001
# MinIO's root user, development only; on Kubernetes the Secret `s3` holds real credentials.
MINIO_USER, MINIO_PASSWORD = "platform-local", "platform-local-secret"


@dataclass(frozen=True)
class RealImage:
    """The real system a simulator stands in for, as a container: `about` and `offline` are the
    comments of its entries in the compose files; `ui_port`, a port of its own UI published on
    the loopback; `client_env`, what its client needs to talk to it (credentials)."""

    host: str
    image: str
    about: tuple[str, ...]
    offline: tuple[str, ...]
    ui_port: int
    command: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    volume: str | None = None
    healthcheck: tuple[str, ...] = ()
    client_env: Mapping[str, str] = field(default_factory=dict)


REAL_IMAGES = {
    "mailbox": RealImage(
        host="mailpit",
        image=MAILPIT_IMAGE,
        about=("Catches every email the emails service sends; its web UI on a free port of",),
        offline=("The mailbox simulator, which keeps each email as a .eml file (no web UI).",),
        ui_port=MAILPIT_UI_PORT,
    ),
    "s3": RealImage(
        host="minio",
        image=MINIO_IMAGE,
        about=("The S3 API server images stores its files in; its console on a free port of",),
        offline=("The s3 simulator (moto's S3 API server), which keeps objects in memory.",),
        ui_port=MINIO_CONSOLE_PORT,
        command=("server", "/data", "--console-address", f":{MINIO_CONSOLE_PORT}"),
        environment={"MINIO_ROOT_USER": MINIO_USER, "MINIO_ROOT_PASSWORD": MINIO_PASSWORD},
        volume="minio-data:/data",
        healthcheck=("CMD", "mc", "ready", "local"),
        client_env={"S3_ACCESS_KEY_ID": MINIO_USER, "S3_SECRET_ACCESS_KEY": MINIO_PASSWORD},
    ),
}
# What the simulators keep, inside their containers.
SIMULATOR_STATE = "/tmp/state"

# Variables a user of docker-compose.yml may set, with their defaults.
GATEWAY_PORT_VAR, GATEWAY_PORT_DEFAULT = "GATEWAY_PORT", 8000
IMAGE_TAG_VAR, IMAGE_TAG_DEFAULT = "IMAGE_TAG", "latest"


def service_image(service: Service, tag: str) -> str:
    return f"platform/{service.name}:{tag}"


def simulator_image(simulator: Simulator, tag: str) -> str:
    return f"platform/{simulator.name}-simulator:{tag}"


def simulators_of(services: Sequence[Service]) -> tuple[Simulator, ...]:
    """The simulators whose client is one of `services`."""
    names = {s.name for s in services}
    return tuple(s for s in SIMULATORS if s.client in names)


def compose_host(simulator: Simulator) -> str:
    """Its service's name in docker-compose.yml: the real system's where there is one."""
    return REAL_IMAGES[simulator.name].host if simulator.name in REAL_IMAGES else simulator.name


def generated_files(services: Sequence[Service] = SERVICES) -> dict[str, str]:
    """Every generated file: path relative to the repository root -> content."""
    files = {COMPOSE_FILE: compose(services), OFFLINE_FILE: offline(services)}
    files.update(k8s(services))
    return files


def write(root: Path, services: Sequence[Service] = SERVICES) -> list[str]:
    """Write the files that differ and delete manifests (and copied files) of services no
    longer in the table.

    Returns the paths it changed.
    """
    files = generated_files(services)
    changed = []
    for relative, text in files.items():
        path = root / relative
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(relative)
    copies = (p for p in (root / K8S_DIR / K8S_FILES).rglob("*") if p.is_file())
    for stale in sorted([*(root / K8S_DIR).glob("*.yaml"), *copies]):
        relative = stale.relative_to(root).as_posix()
        if relative not in files:
            stale.unlink()
            changed.append(relative)
    return changed


# --- YAML text -----------------------------------------------------------------------------------


def quoted(value: str) -> str:
    """A YAML single-quoted scalar: the value as it is, whatever characters it holds."""
    return "'" + value.replace("'", "''") + "'"


def flow(items: Iterable[str]) -> str:
    """A YAML flow sequence of double-quoted scalars (JSON strings are YAML)."""
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def header(*lines: str) -> list[str]:
    return [
        f"# GENERATED by `make generate` from the service table ({TABLE}).",
        "# Do not edit: change the table, or deploy/devstack/src/devstack/generate.py, then run",
        "# `make generate`.",
        "#",
        *(f"# {line}".rstrip() for line in lines),
    ]


def env_block(env: dict[str, str], indent: int) -> list[str]:
    pad = " " * indent
    return [f"{pad}{name}: {quoted(value)}" for name, value in env.items()]


def service_env(service: Service, services: Sequence[Service]) -> dict[str, str]:
    """A container's own settings: its port, and the gateway's routes or a service's database.

    Containers reach each other by service name, under compose and Kubernetes alike.
    """
    env = {"PORT": str(service.port)}
    if service.is_gateway:
        urls = {b.name: f"http://{b.name}:{b.port}" for b in backends(services)}
        env["UPSTREAMS"] = upstreams_json(urls)
        env["ROUTES"] = routes_json(services)
    elif service.stores:
        env["MONGO_DB"] = service.name
    env |= {setting: mounted(path) for setting, path in service.files}
    env |= {url_setting(c): f"http://{c}:{by_name(c).port}" for c in service.calls}
    return env


def mounted(path: str) -> str:
    """Where a repository file the service reads is, inside its container."""
    return f"{FILES_DIR}/{Path(path).name}"


def files_config_map(service: Service) -> str:
    return f"{service.name}-files"


def health_command(port: int, path: str = "/health") -> str:
    # Straight to the container's own port, whatever proxy the environment names.
    return (
        "import urllib.request as u; "
        f"u.build_opener(u.ProxyHandler({{}})).open('http://127.0.0.1:{port}{path}', timeout=2)"
    )


def listening_command(port: int) -> str:
    return f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2).close()"


# --- docker-compose ------------------------------------------------------------------------------


def compose(services: Sequence[Service]) -> str:
    gateway_port = f"${{{GATEWAY_PORT_VAR}:-{GATEWAY_PORT_DEFAULT}}}"
    lines = header(
        "The platform in containers, for docker-compose v1 (1.29 here) and `docker compose`.",
        f"  docker-compose up --build        the gateway on http://localhost:{GATEWAY_PORT_DEFAULT}",
        "  docker-compose up --build cars   one service and what it needs (MongoDB, RabbitMQ)",
        "With no image registry, `make compose ARGS='up --build'` builds local base images",
        f"and adds {OFFLINE_FILE}. Every service is built from ./Dockerfile with the build",
        "arguments SERVICE, MODULE and PORT.",
        "Variables, with their defaults:",
        f"  {GATEWAY_PORT_VAR}={GATEWAY_PORT_DEFAULT}   the gateway's port on the host",
        f"  {IMAGE_TAG_VAR}={IMAGE_TAG_DEFAULT}   the tag of the service images",
    )
    mongod = [
        "mongod",
        "--replSet",
        REPLICA_SET,
        "--bind_ip_all",
        "--port",
        str(MONGO_PORT),
        "--setParameter",
        f"transactionLifetimeLimitSeconds={TRANSACTION_LIFETIME_SECONDS}",
    ]
    lines += [
        "",
        "services:",
        "  mongo:",
        f"    image: {MONGO_IMAGE}",
        "    # A single-node replica set: services write in transactions. Ours last milliseconds;",
        "    # one left open by a killed service holds its locks until the lifetime limit.",
        f"    command: {flow(mongod)}",
        "    volumes:",
        "      - mongo-data:/data/db",
        "    healthcheck:",
        "      # Initiates the replica set on first run; healthy once this member is PRIMARY.",
        "      test:",
        "        - CMD",
        "        - mongosh",
        "        - --quiet",
        "        - --eval",
        "        - >-",
        f"          try {{ rs.status() }} catch (e) {{ rs.initiate({{_id: '{REPLICA_SET}',",
        f"          members: [{{_id: 0, host: 'mongo:{MONGO_PORT}'}}]}}) }}",
        "          quit(db.hello().isWritablePrimary ? 0 : 1)",
        "      interval: 2s",
        "      timeout: 10s",
        "      retries: 30",
        "      start_period: 5s",
        "",
        "  rabbitmq:",
        f"    image: {RABBITMQ_IMAGE}",
        "    # The node's name follows the host name; a fixed one keeps the data volume its own.",
        "    hostname: rabbitmq",
        "    # RabbitMQ does not act as PID 1 (reap children, stop on SIGTERM): tini does.",
        "    init: true",
        "    environment:",
        "      RABBITMQ_LOGS: '-'",
        "    ports:",
        "      # The management UI, on a free port of the loopback:",
        "      #   docker-compose port rabbitmq 15672",
        "      - '127.0.0.1::15672'",
        "    volumes:",
        "      - rabbitmq-data:/var/lib/rabbitmq",
        "    healthcheck:",
        f"      test: {flow(['CMD', 'rabbitmq-diagnostics', '-q', 'check_port_connectivity'])}",
        "      interval: 5s",
        "      timeout: 10s",
        "      retries: 30",
        "      start_period: 10s",
    ]
    for simulator in simulators_of(services):
        if simulator.name in REAL_IMAGES:
            lines += ["", *compose_real_image(REAL_IMAGES[simulator.name])]
        else:
            lines += ["", *compose_simulator(simulator)]
    for service in services:
        lines += ["", *compose_service(service, services, gateway_port)]
    volumes = ["mongo-data", "rabbitmq-data"]
    volumes += [
        real.volume.split(":")[0]
        for simulator in simulators_of(services)
        if (real := REAL_IMAGES.get(simulator.name)) and real.volume
    ]
    lines += ["", "volumes:", *(f"  {volume}:" for volume in volumes)]
    return "\n".join(lines) + "\n"


def compose_real_image(real: RealImage) -> list[str]:
    lines = [
        f"  {real.host}:",
        f"    image: {real.image}",
        *(f"    # {line}" for line in real.about),
        f"    # the loopback: docker-compose port {real.host} {real.ui_port}",
    ]
    if real.command:
        lines += [f"    command: {flow(real.command)}"]
    if real.environment:
        lines += ["    environment:", *env_block(dict(real.environment), 6)]
    lines += ["    ports:", f"      - '127.0.0.1::{real.ui_port}'"]
    if real.volume:
        lines += ["    volumes:", f"      - {real.volume}"]
    if real.healthcheck:
        lines += [
            "    healthcheck:",
            f"      test: {flow(real.healthcheck)}",
            "      interval: 3s",
            "      timeout: 5s",
            "      retries: 20",
        ]
    return lines


def compose_service(service: Service, services: Sequence[Service], gateway_port: str) -> list[str]:
    image = service_image(service, f"${{{IMAGE_TAG_VAR}:-{IMAGE_TAG_DEFAULT}}}")
    env = {"HOST": "0.0.0.0", "LOG_LEVEL": "INFO", "JWKS_URL": JWKS_URL}
    if service.stores:
        env |= {"MONGO_URL": MONGO_URL, "AMQP_URL": AMQP_URL}
    env |= service_env(service, services)
    # Its third-party systems, by name; no depends_on: a service starts with MongoDB and
    # RabbitMQ alone (emails and usages wait meanwhile).
    for simulator in simulators_of(services):
        if simulator.client == service.name:
            env |= simulator.client_env(compose_host(simulator))
            if simulator.name in REAL_IMAGES:
                env |= REAL_IMAGES[simulator.name].client_env
    depends = (
        [s.name for s in backends(services)]
        if service.is_gateway
        else ["mongo", "rabbitmq"]
        if service.stores
        else []
    )
    lines = [
        f"  {service.name}:",
        f"    image: {image}",
        "    build:",
        "      context: .",
        "      dockerfile: Dockerfile",
        "      args:",
        *env_block(
            {"SERVICE": service.name, "MODULE": service.module, "PORT": str(service.port)}, 8
        ),
        "    restart: unless-stopped",
        "    environment:",
        *env_block(env, 6),
    ]
    if service.files:
        lines += ["    volumes:"]
        lines += [f"      - {quoted(f'./{path}:{mounted(path)}:ro')}" for _, path in service.files]
    if service.is_gateway:
        lines += [
            "    ports:",
            "      # The only published service; nothing else is reachable from the host.",
            f"      - {quoted(f'{gateway_port}:{service.port}')}",
        ]
    if depends:
        lines += ["    depends_on:"]
    for name in depends:
        lines += [f"      {name}:", "        condition: service_healthy"]
    lines += [
        "    healthcheck:",
        f"      test: {flow(['CMD', 'python', '-c', health_command(service.port)])}",
        "      interval: 3s",
        "      timeout: 5s",
        "      retries: 20",
    ]
    return lines


def simulator_build(simulator: Simulator, indent: int) -> list[str]:
    pad = " " * indent
    args = {"SERVICE": "simulators", "MODULE": simulator.module, "PORT": str(simulator.port)}
    return [
        f"{pad}build:",
        f"{pad}  context: .",
        f"{pad}  dockerfile: Dockerfile",
        f"{pad}  args:",
        *env_block(args, indent + 4),
    ]


def simulator_healthcheck(simulator: Simulator) -> list[str]:
    test = (
        listening_command(simulator.port)
        if simulator.probe is None
        else health_command(simulator.port, simulator.probe)
    )
    return [
        "    healthcheck:",
        f"      test: {flow(['CMD', 'python', '-c', test])}",
        "      interval: 3s",
        "      timeout: 5s",
        "      retries: 20",
    ]


def compose_simulator(simulator: Simulator) -> list[str]:
    command = simulator.command("python", "0.0.0.0", SIMULATOR_STATE)
    return [
        f"  {simulator.name}:",
        f"    # The {simulator.system} system of the {simulator.client} service: its simulator",
        f"    # ({simulator.module}), on a free port of the loopback for a look at what it got:",
        f"    #   docker-compose port {simulator.name} {simulator.port}",
        f"    image: {simulator_image(simulator, f'${{{IMAGE_TAG_VAR}:-{IMAGE_TAG_DEFAULT}}}')}",
        *simulator_build(simulator, 4),
        "    restart: unless-stopped",
        f"    command: {flow(command)}",
        "    ports:",
        f"      - '127.0.0.1::{simulator.port}'",
        *simulator_healthcheck(simulator),
    ]


def offline(services: Sequence[Service]) -> str:
    lines = header(
        "For machines that reach no image registry: MongoDB, RabbitMQ and the services' Python",
        "are built from Debian's packages on a base made with debootstrap. `make compose` builds",
        "the base images and adds this file after docker-compose.yml, as in",
        f"  docker-compose -f {COMPOSE_FILE} -f {OFFLINE_FILE} up --build",
    )
    lines += [
        "",
        "services:",
        "  mongo:",
        f"    image: {LOCAL_MONGO_IMAGE}",
        "    build: deploy/docker/mongo",
        "    healthcheck:",
        "      # This mongod comes without mongosh: a Python script initiates the replica set.",
        f"      test: {flow(['CMD', 'mongo-replset', f'mongo:{MONGO_PORT}'])}",
        "",
        "  rabbitmq:",
        f"    image: {LOCAL_RABBITMQ_IMAGE}",
        "    build: deploy/docker/rabbitmq",
    ]
    for simulator in simulators_of(services):
        if simulator.name not in REAL_IMAGES:
            lines += ["", f"  {simulator.name}:", "    build:", "      args:"]
            lines += [f"        PYTHON_IMAGE: {LOCAL_PYTHON_IMAGE}"]
            continue
        tag = f"${{{IMAGE_TAG_VAR}:-{IMAGE_TAG_DEFAULT}}}"
        build = simulator_build(simulator, 4)
        lines += [
            "",
            f"  {compose_host(simulator)}:",
            *(f"    # {line}" for line in REAL_IMAGES[simulator.name].offline),
            f"    image: {simulator_image(simulator, tag)}",
            *build[:4],
            f"        PYTHON_IMAGE: {LOCAL_PYTHON_IMAGE}",
            *build[4:],
            f"    command: {flow(simulator.command('python', '0.0.0.0', SIMULATOR_STATE))}",
            *simulator_healthcheck(simulator),
        ]
    for service in services:
        lines += [
            "",
            f"  {service.name}:",
            "    build:",
            "      args:",
            f"        PYTHON_IMAGE: {LOCAL_PYTHON_IMAGE}",
        ]
    return "\n".join(lines) + "\n"


# --- Kubernetes ----------------------------------------------------------------------------------


def k8s(services: Sequence[Service]) -> dict[str, str]:
    files = {
        f"{K8S_DIR}/kustomization.yaml": kustomization(services),
        f"{K8S_DIR}/{CONFIG_MAP}.yaml": config_map(),
    }
    files.update({f"{K8S_DIR}/{s.name}.yaml": deployment(s, services) for s in services})
    # kustomize reads no file outside its directory: the files services read are copied in.
    for service in services:
        for _, path in service.files:
            files[f"{K8S_DIR}/{k8s_file_copy(service, path)}"] = (repo_root() / path).read_text()
    return files


def k8s_file_copy(service: Service, path: str) -> str:
    """Where deploy/k8s keeps its copy of a repository file `service` reads (relative)."""
    return f"{K8S_FILES}/{service.name}/{Path(path).name}"


def kustomization(services: Sequence[Service]) -> str:
    example = services[0]
    lines = header(
        "The platform on Kubernetes: kubectl apply -k deploy/k8s",
        "Images: `docker-compose build` builds every service's as platform/<name>:latest from",
        "./Dockerfile; one by hand, e.g.",
        f"  docker build --build-arg SERVICE={example.name} --build-arg MODULE={example.module} "
        f"--build-arg PORT={example.port} \\",
        f"    -t {service_image(example, 'latest')} .",
        f"The namespace needs MongoDB as replica set {REPLICA_SET} at mongo:{MONGO_PORT} and "
        f"RabbitMQ at rabbitmq:{AMQP_PORT}.",
    )
    lines += [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "labels:",
        "  - pairs:",
        "      app.kubernetes.io/part-of: platform",
        "resources:",
        f"  - {CONFIG_MAP}.yaml",
        *(f"  - {s.name}.yaml" for s in services),
    ]
    readers = [s for s in services if s.files]
    if readers:
        # The name gets a hash of the content: a changed file rolls its service out again.
        lines += ["configMapGenerator:"]
    for service in readers:
        lines += [f"  - name: {files_config_map(service)}", "    files:"]
        lines += [f"      - {k8s_file_copy(service, path)}" for _, path in service.files]
    return "\n".join(lines) + "\n"


def config_map() -> str:
    lines = header("Settings every service shares; each Deployment adds its own (PORT, MONGO_DB).")
    lines += [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        f"  name: {CONFIG_MAP}",
        "data:",
        *env_block(
            {
                "HOST": "0.0.0.0",
                "MONGO_URL": MONGO_URL,
                "AMQP_URL": AMQP_URL,
                "JWKS_URL": JWKS_URL,
                "LOG_LEVEL": "INFO",
            },
            2,
        ),
    ]
    return "\n".join(lines) + "\n"


def deployment(service: Service, services: Sequence[Service]) -> str:
    kind = "LoadBalancer" if service.is_gateway else "ClusterIP"
    env = service_env(service, services)
    needs = []
    if service.files:
        copies = ", ".join(k8s_file_copy(service, path) for _, path in service.files)
        needs += [
            f"It reads files of the repository from the ConfigMap {files_config_map(service)},",
            f"which kustomization.yaml generates from {copies}.",
        ]
    systems = [s for s in simulators_of(services) if s.client == service.name]
    for system in systems:
        literals = " ".join(f"--from-literal={name}=..." for name, _ in system.settings)
        secrets = " ".join(f"--from-literal={name}=..." for name, _ in system.secrets)
        extra = "".join(f" --from-literal={name}=..." for name in system.options)
        needs += [
            f"Where its {system.system} system is, from the ConfigMap and the Secret "
            f"{system.system}:",
            f"  kubectl create configmap {system.system} {literals}",
            *([f"    [{extra.strip()}]"] if extra else []),
            f"  kubectl create secret generic {system.system} {secrets}",
        ]
    if service.secrets:
        own = " ".join(f"--from-literal={name}=..." for name in service.secrets)
        needs += [
            "Its own secrets, from the Secret named after it:",
            f"  kubectl create secret generic {service.name} {own}",
        ]
    lines = header(f"{service.name}: its Deployment and its {kind} Service.", *needs)
    lines += [
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata:",
        f"  name: {service.name}",
        "spec:",
        "  replicas: 1",
        "  selector:",
        "    matchLabels:",
        f"      app.kubernetes.io/name: {service.name}",
        "  template:",
        "    metadata:",
        "      labels:",
        f"        app.kubernetes.io/name: {service.name}",
        "    spec:",
        "      containers:",
        f"        - name: {service.name}",
        f"          image: {service_image(service, 'latest')}",
        "          # Images built on the node (docker build, kind load) rather than pulled.",
        "          imagePullPolicy: IfNotPresent",
        f"          command: {flow(['python', '-m', service.module])}",
        "          envFrom:",
        "            - configMapRef:",
        f"                name: {CONFIG_MAP}",
        "          env:",
    ]
    for name, value in env.items():
        lines += [f"            - name: {name}", f"              value: {quoted(value)}"]
    for name in service.secrets:
        lines += [
            f"            - name: {name}",
            "              valueFrom:",
            "                secretKeyRef:",
            f"                  name: {service.name}",
            f"                  key: {name}",
        ]
    for system in systems:
        refs = [(name, "configMapKeyRef", False) for name, _ in system.settings]
        refs += [(name, "configMapKeyRef", True) for name in system.options]
        refs += [(name, "secretKeyRef", optional) for name, optional in system.secrets]
        for name, ref, optional in refs:
            lines += [
                f"            - name: {name}",
                "              valueFrom:",
                f"                {ref}:",
                f"                  name: {system.system}",
                f"                  key: {name}",
                *(["                  optional: true"] if optional else []),
            ]
    lines += [
        "          ports:",
        "            - name: http",
        f"              containerPort: {service.port}",
        "          readinessProbe:",
        "            httpGet:",
        "              path: /health",
        "              port: http",
        "            periodSeconds: 5",
        "          # /health also answers 503 while a dependency is down, which a restart does",
        "          # not cure: only a minute of failures restarts the container.",
        "          livenessProbe:",
        "            httpGet:",
        "              path: /health",
        "              port: http",
        "            initialDelaySeconds: 10",
        "            periodSeconds: 10",
        "            failureThreshold: 6",
    ]
    if service.files:
        lines += [
            "          volumeMounts:",
            "            - name: files",
            f"              mountPath: {FILES_DIR}",
            "              readOnly: true",
            "      volumes:",
            "        - name: files",
            "          configMap:",
            f"            name: {files_config_map(service)}",
        ]
    lines += [
        "---",
        "apiVersion: v1",
        "kind: Service",
        "metadata:",
        f"  name: {service.name}",
        "spec:",
        f"  type: {kind}",
        "  selector:",
        f"    app.kubernetes.io/name: {service.name}",
        "  ports:",
        "    - name: http",
        f"      port: {service.port}",
        "      targetPort: http",
    ]
    return "\n".join(lines) + "\n"
