"""devstack.containers without a Docker engine: the command line, the build-context copies."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from devstack import containers
from devstack.generate import COMPOSE_FILE
from devstack.paths import repo_root

ROOT = repo_root()


def test_compose_command_names_project_files_then_arguments() -> None:
    files = [ROOT / "docker-compose.yml", ROOT / "deploy/docker/offline.yml"]
    project = containers.ComposeProject(ROOT, files, "p1")
    command = project.command("up", "-d")
    assert command[-6:] == ["-f", str(files[0]), "-f", str(files[1]), "up", "-d"]
    assert command[-8:-6] == ["-p", "p1"]


def test_prepare_copies_the_ca_bundle_into_the_build_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "bundle.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    (tmp_path / containers.CA_COPY).parent.mkdir(parents=True)

    assert containers.prepare(tmp_path, offline=False) == [tmp_path / COMPOSE_FILE]
    copy = tmp_path / containers.CA_COPY
    assert copy.read_text() == bundle.read_text()
    bundle.write_text("a bundle that changed")
    containers.prepare(tmp_path, offline=False)
    assert copy.read_text() == "a bundle that changed"


def test_copies_for_the_builds_are_never_committed() -> None:
    for copy in (containers.CA_COPY, containers.MONGOD_COPY):
        ignored = subprocess.run(["git", "check-ignore", "-q", str(copy)], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"{copy} must be git-ignored"


def test_debian_base_never_starts_services_during_a_build() -> None:
    policy = ROOT / containers.ROOTFS_OVERLAY / "usr/sbin/policy-rc.d"
    assert os.access(policy, os.X_OK)
    assert "exit 101" in policy.read_text()
