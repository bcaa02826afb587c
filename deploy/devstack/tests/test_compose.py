"""docker-compose.yml, deploy/docker/offline.yml and the one Dockerfile, checked as text.

`make test-compose` (test_compose_up.py) runs them for real; these checks take milliseconds.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.generate import (
    COMPOSE_FILE,
    GATEWAY_PORT_DEFAULT,
    LOCAL_DEBIAN_IMAGE,
    LOCAL_PYTHON_IMAGE,
    OFFLINE_FILE,
    SIMULATOR_STATE,
    compose_host,
)
from devstack.infra import AMQP_PORT, MONGO_PORT, TRANSACTION_LIFETIME_SECONDS
from devstack.paths import repo_root
from devstack.services import (
    GATEWAY,
    ISSUER,
    SERVICES,
    Service,
    backends,
    by_name,
    routes_json,
    upstreams_json,
)
from devstack.simulators import SIMULATORS, simulator

ROOT = repo_root()
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SERVICE_DIRS = sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))
INFRA = {"mongo", "rabbitmq"}
# Third-party systems the services talk to, or their simulators: the emails service's SMTP
# server (Mailpit), the usages service's product analytics, identity's sign-in provider,
# profiles' Gravatar and images' S3 API server (MinIO).
THIRD_PARTY = {"mailpit", "analytics", "oidc", "gravatar", "minio"}
# Ports the devstack (make run) and the tests use on the host.
DEVSTACK_PORTS = {MONGO_PORT, AMQP_PORT, *(s.port for s in SERVICES)}


def services_of(relative: str) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = yaml.safe_load((ROOT / relative).read_text())["services"]
    return services


COMPOSE = services_of(COMPOSE_FILE)
OFFLINE = services_of(OFFLINE_FILE)


def test_compose_builds_every_service_dir_and_runs_nothing_unknown() -> None:
    built = {name for name, spec in COMPOSE.items() if "build" in spec} - THIRD_PARTY
    assert built == set(SERVICE_DIRS) == {s.name for s in SERVICES}
    assert set(COMPOSE) - built == INFRA | THIRD_PARTY


def test_one_dockerfile_for_every_service() -> None:
    assert not list((ROOT / "services").glob("*/Dockerfile")), "services build from ./Dockerfile"
    for service in SERVICES:
        build = COMPOSE[service.name]["build"]
        assert (build["context"], build["dockerfile"]) == (".", "Dockerfile")
        assert build["args"] == {
            "SERVICE": service.name,
            "MODULE": service.module,
            "PORT": str(service.port),
        }


def test_dockerfile_builds_with_the_classic_builder_and_no_registry_but_pypi() -> None:
    assert "# syntax" not in DOCKERFILE, "a syntax line pulls a BuildKit frontend image"
    assert "--mount" not in DOCKERFILE, "RUN --mount needs BuildKit"
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", DOCKERFILE, re.M))
    assert set(re.findall(r"--from=(\S+)", DOCKERFILE)) <= stages, "copies only from its stages"
    assert re.search(r"pip install [^\n]*\buv==\d+\.\d+\.\d+", DOCKERFILE), "a pinned uv"
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", DOCKERFILE, re.M)


def test_dependencies_are_installed_before_the_service_is_named() -> None:
    """The third-party layer must not depend on SERVICE, so that all services share it."""
    syncs = re.findall(r"uv sync [^\n]*", DOCKERFILE)
    assert len(syncs) == 2 and all("--frozen" in s and "--no-dev" in s for s in syncs)
    shared, own = syncs
    assert "--all-packages" in shared and "--no-install-workspace" in shared
    assert DOCKERFILE.index(shared) < DOCKERFILE.index("ARG SERVICE") < DOCKERFILE.index(own)
    assert '--package "${SERVICE}"' in own and "--no-editable" in own
    assert 'CMD exec python -m "${SERVICE_MODULE}"' in DOCKERFILE


def test_dockerfile_copies_exist_and_are_not_docker_ignored() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    ignored = {p for p in patterns if not p.startswith("!")}
    kept = {p[1:] for p in patterns if p.startswith("!")}
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), f"COPY {path}"
            top = path.split("/")[0]
            assert top not in ignored or path.rstrip("/") in kept, f"{path} is docker-ignored"


def test_images_need_only_what_the_dockerfile_copies() -> None:
    """The Dockerfile copies libs/ and services/; a workspace dependency elsewhere is missing."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = {p["name"]: p for p in lock["package"]}

    def workspace_closure(name: str) -> set[str]:
        seen: set[str] = set()
        todo = [name]
        while todo:
            package = packages[todo.pop()]
            if package["name"] in seen:
                continue
            seen.add(package["name"])
            todo += [d["name"] for d in package.get("dependencies", [])]
        return {n for n in seen if "editable" in packages[n].get("source", {})}

    for service in SERVICES:
        for member in workspace_closure(service.name):
            path = Path(packages[member]["source"]["editable"])
            assert path.parts[0] in ("libs", "services"), f"{service.name} needs {member} at {path}"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_compose_service_settings_match_the_table(service: Service) -> None:
    spec = COMPOSE[service.name]
    env = spec["environment"]
    assert env["PORT"] == str(service.port)
    assert env["HOST"] == "0.0.0.0"
    # Every service trusts the keys identity publishes, at identity's address in the network.
    assert env["JWKS_URL"] == f"http://{ISSUER}:{by_name(ISSUER).port}/.well-known/jwks.json"
    assert len(spec.get("volumes", [])) == len(service.files), "it mounts only files it reads"
    assert spec["image"].startswith(f"platform/{service.name}:")
    if service.stores:
        assert env["MONGO_DB"] == service.name
        assert env["MONGO_URL"] == f"mongodb://mongo:{MONGO_PORT}/?replicaSet=rs0"
        assert env["AMQP_URL"] == f"amqp://guest:guest@rabbitmq:{AMQP_PORT}/"
        assert set(spec["depends_on"]) == INFRA, "one service runs with only MongoDB, RabbitMQ"
    elif not service.is_gateway:
        assert not {"MONGO_DB", "MONGO_URL", "AMQP_URL"} & set(env)
        assert "depends_on" not in spec, "a service that stores nothing starts on its own"
    for setting, path in service.files:
        # The repository's file, read-only, where the setting says.
        assert f"./{path}:{env[setting]}:ro" in spec["volumes"]
    health = " ".join(spec["healthcheck"]["test"])
    assert f"127.0.0.1:{service.port}/health" in health


def test_only_the_gateway_is_published_and_on_no_port_the_devstack_uses() -> None:
    gateway = next(s for s in SERVICES if s.is_gateway)
    assert COMPOSE[GATEWAY]["ports"] == [
        f"${{GATEWAY_PORT:-{GATEWAY_PORT_DEFAULT}}}:{gateway.port}"
    ]
    assert GATEWAY_PORT_DEFAULT not in DEVSTACK_PORTS
    assert all("ports" not in COMPOSE[s.name] for s in backends())
    for name in INFRA | THIRD_PARTY:
        for port in COMPOSE[name].get("ports", []):
            host_ip, host_port, _ = str(port).split(":")
            assert host_ip == "127.0.0.1" and not host_port, f"{name}: {port} is not loopback-only"


def test_gateway_routes_and_upstreams_are_the_tables() -> None:
    spec = COMPOSE[GATEWAY]
    urls = {s.name: f"http://{s.name}:{s.port}" for s in backends()}
    assert spec["environment"]["UPSTREAMS"] == upstreams_json(urls)
    assert spec["environment"]["ROUTES"] == routes_json()
    assert json.loads(spec["environment"]["ROUTES"]) == {
        p: s.name for s in backends() for p in s.prefixes
    }
    assert set(spec["depends_on"]) == {s.name for s in backends()}
    assert all(d["condition"] == "service_healthy" for d in spec["depends_on"].values())


def test_mongo_is_a_replica_set_with_short_transactions() -> None:
    mongo = COMPOSE["mongo"]
    assert mongo["image"] == "mongo:6.0"
    command = mongo["command"]
    assert command[command.index("--replSet") + 1] == "rs0"
    limit = f"transactionLifetimeLimitSeconds={TRANSACTION_LIFETIME_SECONDS}"
    assert command[command.index("--setParameter") + 1] == limit
    assert "rs.initiate" in " ".join(mongo["healthcheck"]["test"])


def test_rabbitmq_runs_under_an_init_and_logs_to_stdout() -> None:
    rabbitmq = COMPOSE["rabbitmq"]
    assert rabbitmq["image"] == "rabbitmq:3-management"
    assert rabbitmq["init"] is True
    assert rabbitmq["environment"]["RABBITMQ_LOGS"] == "-"


def test_offline_file_replaces_every_registry_image_with_a_local_build() -> None:
    assert set(OFFLINE) == set(COMPOSE)
    for name in INFRA:
        context = ROOT / OFFLINE[name]["build"]
        assert (context / "Dockerfile").is_file()
        assert f"FROM {LOCAL_DEBIAN_IMAGE}\n" in (context / "Dockerfile").read_text()
        assert OFFLINE[name]["image"].startswith("platform-local/")
    for service in SERVICES:
        assert OFFLINE[service.name] == {"build": {"args": {"PYTHON_IMAGE": LOCAL_PYTHON_IMAGE}}}
    # Offline, Mailpit is the mailbox simulator, built from the one Dockerfile.
    mailbox = OFFLINE["mailpit"]
    assert mailbox["build"]["args"]["PYTHON_IMAGE"] == LOCAL_PYTHON_IMAGE
    assert mailbox["build"]["args"]["SERVICE"] == "simulators"
    assert mailbox["command"][:3] == ["python", "-m", "simulators.mailbox"]
    python = (ROOT / "deploy/docker/python/Dockerfile").read_text()
    assert f"FROM {LOCAL_DEBIAN_IMAGE}\n" in python


def test_offline_mongo_initiates_the_replica_set_without_a_shell() -> None:
    test = OFFLINE["mongo"]["healthcheck"]["test"]
    assert test == ["CMD", "mongo-replset", f"mongo:{MONGO_PORT}"]
    dockerfile = (ROOT / "deploy/docker/mongo/Dockerfile").read_text()
    assert "COPY mongo-replset.py /usr/local/bin/mongo-replset" in dockerfile
    assert "replSetInitiate" in (ROOT / "deploy/docker/mongo/mongo-replset.py").read_text()


def test_every_simulator_runs_in_the_containers_and_its_client_is_pointed_at_it() -> None:
    for each in SIMULATORS:
        host = compose_host(each)
        # Offline at least, every one is the simulator, built from the one Dockerfile.
        spec = COMPOSE[host] | OFFLINE[host]
        build = COMPOSE[host].get("build", {}) | OFFLINE[host]["build"]
        args = COMPOSE[host].get("build", {}).get("args", {}) | OFFLINE[host]["build"]["args"]
        assert (build["context"], build["dockerfile"]) == (".", "Dockerfile")
        assert args["SERVICE"] == "simulators" and args["PYTHON_IMAGE"] == LOCAL_PYTHON_IMAGE
        assert spec["image"].startswith(f"platform/{each.name}-simulator:")
        command = spec["command"]
        assert command[:3] == ["python", "-m", each.module]
        assert command[command.index("--host") + 1] == "0.0.0.0"
        assert command[command.index("--port") + 1] == str(each.port)
        if each.keeps:
            assert command[command.index("--dir") + 1] == f"{SIMULATOR_STATE}/{each.keeps}"
        env = COMPOSE[each.client]["environment"]
        for name, template in each.settings:
            assert env[name] == each.client_env(host)[name]
            if "{host}" in template:
                assert host in env[name]


def test_images_keeps_its_files_in_minio_with_its_root_credentials_or_offline_in_moto() -> None:
    env = COMPOSE["images"]["environment"]
    minio = COMPOSE["minio"]
    assert (env["BLOB_STORE"], env["S3_ENDPOINT_URL"]) == ("s3", "http://minio:9000")
    assert minio["image"] == "minio/minio"
    assert (env["S3_ACCESS_KEY_ID"], env["S3_SECRET_ACCESS_KEY"]) == (
        minio["environment"]["MINIO_ROOT_USER"],
        minio["environment"]["MINIO_ROOT_PASSWORD"],
    )
    assert "minio-data:/data" in minio["volumes"]
    command = OFFLINE["minio"]["command"]
    assert command[:3] == ["python", "-m", "simulators.s3"]
    assert command[command.index("--port") + 1] == "9000"


def test_usages_delivers_to_the_analytics_simulator() -> None:
    analytics = COMPOSE["analytics"]
    env = COMPOSE["usages"]["environment"]
    assert env["ANALYTICS_URL"] == f"http://analytics:{simulator('analytics').port}"
    assert analytics["ports"] == [f"127.0.0.1::{simulator('analytics').port}"]
    assert "/_simulator/events" in " ".join(analytics["healthcheck"]["test"])


def test_the_emails_service_sends_to_mailpit_on_the_port_the_simulator_offline_serves() -> None:
    env = COMPOSE["emails"]["environment"]
    assert (env["SMTP_HOST"], env["SMTP_PORT"]) == ("mailpit", "1025")
    assert COMPOSE["mailpit"]["image"] == "axllent/mailpit"
    command = OFFLINE["mailpit"]["command"]
    assert command[command.index("--port") + 1] == env["SMTP_PORT"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
