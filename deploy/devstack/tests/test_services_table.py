"""The devstack service table: the one list every runner and deployment file is checked against."""

from __future__ import annotations

import importlib.util
import json
import tomllib

import pytest

from devstack.paths import repo_root
from devstack.services import GATEWAY, SERVICES, Service, backends, routes_json, upstreams_json


def test_names_modules_and_ports_are_unique() -> None:
    for field in ("name", "module", "port"):
        values = [getattr(s, field) for s in SERVICES]
        assert len(values) == len(set(values)), f"duplicate {field} in {values}"


def test_fixed_ports() -> None:
    assert {s.name: s.port for s in SERVICES if s.name in ("cars", "bookings", GATEWAY)} == {
        "cars": 8101,
        "bookings": 8102,
        GATEWAY: 8080,
    }


def test_gateway_is_the_only_one_not_routed_to() -> None:
    assert [s.name for s in SERVICES if s.is_gateway] == [GATEWAY]
    assert {s.name for s in backends()} == {s.name for s in SERVICES} - {GATEWAY}


def test_table_matches_the_service_packages() -> None:
    root = repo_root()
    packages = {
        tomllib.loads(p.read_text())["project"]["name"]: p.parent.name
        for p in (root / "services").glob("*/pyproject.toml")
    }
    assert {s.name for s in SERVICES} == set(packages), "services/ and devstack table differ"
    for service in SERVICES:
        assert packages[service.name] == service.name, "service dir name differs from package"
        assert (root / "services" / service.name / "src" / service.module).is_dir()


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_every_service_runs_with_python_dash_m(service: Service) -> None:
    main = f"{service.module}.__main__"
    assert importlib.util.find_spec(main) is not None, f"`python -m {service.module}` needs {main}"


def test_every_backend_has_a_public_prefix_and_no_prefix_is_shared() -> None:
    prefixes = [p for s in backends() for p in s.prefixes]
    assert all(s.prefixes for s in backends())
    assert len(prefixes) == len(set(prefixes))
    routes = json.loads(routes_json())
    assert set(routes) == set(prefixes)
    assert {"/cars": "cars", "/bookings": "bookings"}.items() <= routes.items()


def test_upstreams_json_is_a_flat_object() -> None:
    text = upstreams_json({"cars": "http://127.0.0.1:8101", "bookings": "http://127.0.0.1:8102"})
    assert json.loads(text) == {
        "cars": "http://127.0.0.1:8101",
        "bookings": "http://127.0.0.1:8102",
    }
