"""deploy/k8s, generated from the devstack service table (no cluster here: checked as text)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.generate import CONFIG_MAP, files_config_map
from devstack.paths import repo_root
from devstack.services import (
    ISSUER,
    SERVICES,
    Service,
    backends,
    by_name,
    routes_json,
    upstreams_json,
)
from devstack.simulators import SIMULATORS, Simulator

K8S = repo_root() / "deploy" / "k8s"


def manifests(name: str) -> dict[str, dict[str, Any]]:
    docs = yaml.safe_load_all((K8S / f"{name}.yaml").read_text())
    return {doc["kind"]: doc for doc in docs}


def container(service: Service) -> dict[str, Any]:
    spec = manifests(service.name)["Deployment"]["spec"]["template"]["spec"]
    containers: list[dict[str, Any]] = spec["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(service: Service) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(service)["env"] if "value" in e}


def refs_of(service: Service) -> dict[str, dict[str, Any]]:
    """Settings read from a ConfigMap or a Secret: name -> {configMapKeyRef: {...}} or so."""
    return {e["name"]: e["valueFrom"] for e in container(service)["env"] if "valueFrom" in e}


def test_kustomization_lists_every_manifest_and_every_service() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    resources = kustomization["resources"]
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(resources) == files
    assert resources == [f"{CONFIG_MAP}.yaml", *(f"{s.name}.yaml" for s in SERVICES)]


def test_config_map_holds_the_shared_settings() -> None:
    config = manifests(CONFIG_MAP)["ConfigMap"]
    assert config["metadata"]["name"] == CONFIG_MAP
    assert config["data"]["MONGO_URL"] == "mongodb://mongo:27017/?replicaSet=rs0"
    assert config["data"]["HOST"] == "0.0.0.0"
    # Every service trusts the keys identity publishes, at its Service's address.
    identity = by_name(ISSUER)
    assert config["data"]["JWKS_URL"] == f"http://{ISSUER}:{identity.port}/.well-known/jwks.json"
    assert manifests(ISSUER)["Service"]["metadata"]["name"] == ISSUER


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_deployment_and_service_match_the_table(service: Service) -> None:
    main = container(service)
    env = env_of(service)
    assert main["command"] == ["python", "-m", service.module]
    assert main["image"] == f"platform/{service.name}:latest"
    assert main["envFrom"] == [{"configMapRef": {"name": CONFIG_MAP}}]
    assert env["PORT"] == str(service.port)
    assert [p["containerPort"] for p in main["ports"]] == [service.port]
    for probe in ("readinessProbe", "livenessProbe"):
        assert main[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    if service.stores:
        assert env["MONGO_DB"] == service.name
    mounts = {m["name"]: m["mountPath"] for m in main.get("volumeMounts", [])}
    assert set(mounts) == ({"files"} if service.files else set()), "only the files it reads"
    for setting, path in service.files:
        assert env[setting] == f"{mounts['files']}/{Path(path).name}"
    ports = manifests(service.name)["Service"]["spec"]["ports"]
    assert [p["port"] for p in ports] == [service.port]
    kind = manifests(service.name)["Service"]["spec"]["type"]
    assert kind == ("LoadBalancer" if service.is_gateway else "ClusterIP"), (
        "only the gateway is public"
    )


def test_gateway_routes_and_upstreams_are_the_tables() -> None:
    gateway = next(s for s in SERVICES if s.is_gateway)
    env = env_of(gateway)
    urls = {s.name: f"http://{s.name}:{s.port}" for s in backends()}
    assert env["UPSTREAMS"] == upstreams_json(urls)
    assert env["ROUTES"] == routes_json()


@pytest.mark.parametrize("system", SIMULATORS, ids=lambda s: s.name)
def test_a_third_party_systems_settings_come_from_its_config_map_and_secret(
    system: Simulator,
) -> None:
    """On Kubernetes the real system is used: where it is, from the cluster's own objects."""
    client = by_name(system.client)
    refs = {name: ref for name, ref in refs_of(client).items() if name not in client.secrets}
    wanted = {name: ("configMapKeyRef", False) for name, _ in system.settings}
    wanted |= {name: ("configMapKeyRef", True) for name in system.options}
    wanted |= {name: ("secretKeyRef", optional) for name, optional in system.secrets}
    assert set(refs) == set(wanted)
    for name, (kind, optional) in wanted.items():
        ref = refs[name][kind]
        assert (ref["name"], ref["key"], ref.get("optional", False)) == (
            system.system,
            name,
            optional,
        ), name
    assert not set(wanted) & set(env_of(by_name(system.client))), "no value beside the ref"


def test_only_the_clients_of_third_party_systems_read_their_settings() -> None:
    clients = {s.client for s in SIMULATORS}
    for service in SERVICES:
        if service.name not in clients:
            assert set(refs_of(service)) == set(service.secrets), service.name


@pytest.mark.parametrize("service", [s for s in SERVICES if s.secrets], ids=lambda s: s.name)
def test_a_services_own_secrets_come_from_its_secret(service: Service) -> None:
    refs = refs_of(service)
    for name in service.secrets:
        assert refs[name] == {"secretKeyRef": {"name": service.name, "key": name}}, name
    assert not set(service.secrets) & set(env_of(service)), "no value beside the ref"


def kustomize() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (kustomize) is not installed")
    built = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, check=True, timeout=60
    )
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def test_kustomize_generates_the_config_map_of_each_file_a_service_reads() -> None:
    docs = kustomize()
    for service in (s for s in SERVICES if s.files):
        [deployment] = [
            d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == service.name
        ]
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        generated = volumes["files"]["configMap"]["name"]
        # The name carries a hash of the content, and the Deployment follows it.
        assert generated.startswith(f"{files_config_map(service)}-")
        [config] = [
            d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == generated
        ]
        for _, path in service.files:
            assert config["data"][Path(path).name] == (repo_root() / path).read_text()
