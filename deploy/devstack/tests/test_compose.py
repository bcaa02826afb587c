"""docker-compose.yml and services/*/Dockerfile kept in line with services/ and the devstack table.

No Docker engine runs here, so these files are checked as text against what exists.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.paths import repo_root
from devstack.services import GATEWAY, SERVICES, Service, backends, by_name

ROOT = repo_root()
SERVICE_DIRS = sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))
INFRA = {"mongo", "rabbitmq"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def compose_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose()["services"]
    return services


def dockerfile(name: str) -> str:
    return (ROOT / "services" / name / "Dockerfile").read_text()


def test_every_service_dir_has_a_compose_service_and_a_dockerfile() -> None:
    built = {name for name, spec in compose_services().items() if "build" in spec}
    assert set(SERVICE_DIRS) == built, "services/ and the built compose services differ"
    for name in SERVICE_DIRS:
        assert (ROOT / "services" / name / "Dockerfile").is_file(), f"services/{name}/Dockerfile"


def test_compose_has_only_known_services() -> None:
    table = {s.name for s in SERVICES}
    assert set(compose_services()) - INFRA == table


def test_every_compose_build_points_to_an_existing_dockerfile() -> None:
    for name, spec in compose_services().items():
        if "build" not in spec:
            continue
        build = spec["build"]
        assert build["context"] == ".", f"{name}: build from the repository root"
        assert build["dockerfile"] == f"services/{name}/Dockerfile"
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_dockerfile_installs_and_runs_its_own_package(service: Service) -> None:
    text = dockerfile(service.name)
    syncs = re.findall(r"uv sync [^\n]*--package (\S+)", text)
    assert syncs and set(syncs) == {service.name}, f"uv sync --package lines: {syncs}"
    assert all("--frozen" in line for line in re.findall(r"uv sync [^\n]*", text))
    assert f'CMD ["python", "-m", "{service.module}"]' in text
    assert f"EXPOSE {service.port}" in text
    assert f"PORT={service.port}" in text


def test_dockerfiles_share_one_shape() -> None:
    def shape(service: Service) -> str:
        text = dockerfile(service.name).replace(str(service.port), "<port>")
        return re.sub(rf"\b{re.escape(service.name)}\b", "<name>", text)

    shapes = {s.name: shape(s) for s in SERVICES}
    reference = shapes[SERVICES[0].name]
    for name, text in shapes.items():
        assert text == reference, f"services/{name}/Dockerfile differs from the others in shape"


def test_dockerfile_copies_exist_and_are_not_docker_ignored() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for service in SERVICES:
        for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile(service.name), re.M):
            for path in source.split():
                assert (ROOT / path).exists(), f"{service.name}: COPY {path}"
                assert path not in ignored, f"{service.name}: {path} is in .dockerignore"


def test_images_need_only_what_the_dockerfile_copies() -> None:
    """Dockerfiles copy libs/ and services/; a workspace dependency elsewhere would be missing."""
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
    spec = compose_services()[service.name]
    env = spec["environment"]
    assert env["PORT"] == str(service.port)
    assert env["MONGO_URL"] == "mongodb://mongo:27017/?replicaSet=rs0"
    assert env["AMQP_URL"].startswith("amqp://guest:guest@rabbitmq:5672/")
    assert env["JWKS_URL"].startswith("file:///")
    jwks_dir = str(Path(env["JWKS_URL"].removeprefix("file://")).parent)
    assert any(v.split(":")[1] == jwks_dir for v in spec["volumes"]), "JWKS file is not mounted"
    if not service.is_gateway:
        assert env["MONGO_DB"] == service.name
    health = " ".join(spec["healthcheck"]["test"])
    assert f"127.0.0.1:{service.port}/health" in health


def test_only_the_gateway_is_published() -> None:
    gateway = by_name(GATEWAY)
    published = {name: spec.get("ports", []) for name, spec in compose_services().items()}
    assert published[GATEWAY] == [f"{gateway.port}:{gateway.port}"]
    assert all(not ports for name, ports in published.items() if name not in INFRA | {GATEWAY})


def test_gateway_upstreams_name_every_backend() -> None:
    spec = compose_services()[GATEWAY]
    upstreams = json.loads(spec["environment"]["UPSTREAMS"])
    assert upstreams == {s.name: f"http://{s.name}:{s.port}" for s in backends()}
    assert set(spec["depends_on"]) == {s.name for s in backends()}
    assert all(d["condition"] == "service_healthy" for d in spec["depends_on"].values())


def test_mongo_is_a_replica_set_initiated_by_its_healthcheck() -> None:
    mongo = compose_services()["mongo"]
    assert "--replSet" in mongo["command"] and "rs0" in mongo["command"]
    assert "rs.initiate" in " ".join(mongo["healthcheck"]["test"])
    backend_deps = [compose_services()[s.name]["depends_on"] for s in backends()]
    assert all(set(deps) == INFRA for deps in backend_deps)
