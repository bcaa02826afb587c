"""deploy/k8s kept in line with the devstack service table (no cluster here: checked as text)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from devstack.paths import repo_root
from devstack.services import SERVICES, Service, backends

K8S = repo_root() / "deploy" / "k8s"


def manifests(name: str) -> dict[str, dict[str, Any]]:
    docs = yaml.safe_load_all((K8S / f"{name}.yaml").read_text())
    return {doc["kind"]: doc for doc in docs}


def container(service: Service) -> dict[str, Any]:
    spec = manifests(service.name)["Deployment"]["spec"]["template"]["spec"]
    containers: list[dict[str, Any]] = spec["containers"]
    assert len(containers) == 1
    return containers[0]


def test_kustomization_lists_every_manifest_and_every_service() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    resources = set(kustomization["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert resources == files
    assert {f"{s.name}.yaml" for s in SERVICES} <= resources


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_deployment_and_service_match_the_table(service: Service) -> None:
    main = container(service)
    env = {e["name"]: e["value"] for e in main["env"]}
    assert main["command"] == ["python", "-m", service.module]
    assert main["image"].split(":")[0].endswith(f"/{service.name}")
    assert env["PORT"] == str(service.port)
    assert [p["containerPort"] for p in main["ports"]] == [service.port]
    assert main["readinessProbe"]["httpGet"]["path"] == "/health"
    if not service.is_gateway:
        assert env["MONGO_DB"] == service.name
    ports = manifests(service.name)["Service"]["spec"]["ports"]
    assert [p["port"] for p in ports] == [service.port]
    kind = manifests(service.name)["Service"]["spec"]["type"]
    assert kind == ("LoadBalancer" if service.is_gateway else "ClusterIP"), (
        "only the gateway is public"
    )


def test_gateway_upstreams_name_every_backend() -> None:
    gateway = next(s for s in SERVICES if s.is_gateway)
    env = {e["name"]: e["value"] for e in container(gateway)["env"]}
    assert json.loads(env["UPSTREAMS"]) == {s.name: f"http://{s.name}:{s.port}" for s in backends()}
