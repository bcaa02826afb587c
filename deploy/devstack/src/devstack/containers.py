"""docker-compose on this machine: the official images when a registry serves them, else local
images built from Debian's packages (deploy/docker/offline.yml).

`python -m devstack compose ARGS` (`make compose ARGS=...`) prepares what the builds need and
runs docker-compose with the right files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devstack.generate import (
    COMPOSE_FILE,
    LOCAL_DEBIAN_IMAGE,
    LOCAL_PYTHON_IMAGE,
    MAILPIT_IMAGE,
    MINIO_IMAGE,
    MONGO_IMAGE,
    OFFLINE_FILE,
    PYTHON_IMAGE,
    RABBITMQ_IMAGE,
)
from devstack.infra import mongod_binary
from devstack.paths import DevstackError, file_lock

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# The host's CA bundle: it holds a TLS-intercepting proxy's CA where there is one.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Copies made for the image builds, git-ignored: never commit a certificate or a binary.
CA_COPY = Path("deploy/docker/ca/host-ca.crt")
MONGOD_COPY = Path("deploy/docker/mongo/mongod")
PYTHON_CONTEXT = Path("deploy/docker/python")
ROOTFS_OVERLAY = Path("deploy/docker/debian-rootfs")
# What debootstrap installed that the overlay's dpkg settings keep out of later packages.
_PRUNED = (
    "var/cache/apt/archives/*.deb",
    "var/lib/apt/lists/*_*",
    "usr/share/doc/*/*",
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/locale/*",
)


def docker() -> str:
    """The docker client: $DOCKER, else Debian's, which matches Debian's daemon (a newer
    client elsewhere on PATH may speak an API the daemon does not)."""
    chosen = os.environ.get("DOCKER")
    if chosen:
        return chosen
    return "/usr/bin/docker" if Path("/usr/bin/docker").is_file() else "docker"


def compose_command() -> list[str]:
    """docker-compose v1 where installed, else the compose plugin."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return [docker(), "compose"]


def has_image(image: str) -> bool:
    return _docker_ok("image", "inspect", image)


def compose_files(root: Path) -> tuple[bool, list[Path]]:
    """The compose files for this machine, their builds' needs prepared: (offline, files).

    Offline (local images) when a registry serves not all the official images.
    """
    if not _docker_ok("info"):
        raise DevstackError(f"no Docker engine answers `{docker()} info`: start dockerd")
    offline = not official_images_available()
    return offline, prepare(root, offline)


def official_images_available() -> bool:
    """Whether the official base images are here or can be pulled (fails fast offline)."""
    return all(
        has_image(image) or _docker_ok("pull", "-q", image)
        for image in (PYTHON_IMAGE, MONGO_IMAGE, RABBITMQ_IMAGE, MAILPIT_IMAGE, MINIO_IMAGE)
    )


def prepare(root: Path, offline: bool) -> list[Path]:
    """Everything the builds need that is not committed; returns the compose files to use."""
    _copy_if_changed(Path(os.environ.get("SSL_CERT_FILE", HOST_CA_BUNDLE)), root / CA_COPY)
    if not offline:
        return [root / COMPOSE_FILE]
    # Image names are the daemon's, shared by every checkout: one run builds them at a time.
    with file_lock(Path(tempfile.gettempdir()) / "platform-local-images.lock"):
        _copy_if_changed(mongod_binary(), root / MONGOD_COPY)
        if not has_image(LOCAL_DEBIAN_IMAGE):
            build_debian_base(root, LOCAL_DEBIAN_IMAGE)
        if not has_image(LOCAL_PYTHON_IMAGE):
            _docker("build", "-t", LOCAL_PYTHON_IMAGE, str(root / PYTHON_CONTEXT))
    return [root / COMPOSE_FILE, root / OFFLINE_FILE]


def build_debian_base(root: Path, image: str) -> None:
    """A minimal Debian imported as `image`: the base of every local image (about 30 s).

    It is set up as Debian's official slim images are (ROOTFS_OVERLAY): no apt caches, no
    documentation or translations, and no service started by a package while a layer builds.
    """
    if shutil.which("debootstrap") is None:
        raise DevstackError("no registry answers and debootstrap is missing: apt-get install it")
    with tempfile.TemporaryDirectory(prefix="debootstrap-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        print(f"devstack: debootstrap {DEBIAN_SUITE} for {image} ...", flush=True)
        subprocess.run(
            ["debootstrap", "--variant=minbase", DEBIAN_SUITE, str(rootfs), DEBIAN_MIRROR],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        shutil.copytree(root / ROOTFS_OVERLAY, rootfs, dirs_exist_ok=True)
        for pattern in _PRUNED:
            for path in rootfs.glob(pattern):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.name != "copyright":
                    path.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            subprocess.run(
                [docker(), "import", "-", image], stdin=tar.stdout, stdout=subprocess.DEVNULL
            ).check_returncode()
        finally:
            if tar.stdout is not None:
                tar.stdout.close()
            if tar.wait() != 0:
                raise DevstackError(f"tar of {rootfs} failed")


@dataclass(frozen=True)
class ComposeProject:
    """docker-compose with fixed files, project name and variables (GATEWAY_PORT, ...)."""

    root: Path
    files: Sequence[Path]
    name: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    def command(self, *args: str) -> list[str]:
        project = ["-p", self.name] if self.name else []
        files = [arg for f in self.files for arg in ("-f", str(f))]
        return [*compose_command(), *project, *files, *args]

    def run(self, *args: str, timeout: float | None = None) -> None:
        subprocess.run(
            self.command(*args),
            cwd=self.root,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=True,
        )

    def exec(self, *args: str) -> None:
        """Become docker-compose: Ctrl-C and the exit status are its own."""
        os.chdir(self.root)
        command = self.command(*args)
        os.execvpe(command[0], command, {**os.environ, **self.env})

    def output(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            self.command(*args),
            cwd=self.root,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return result.stdout + result.stderr


def _copy_if_changed(source: Path, target: Path) -> None:
    if not source.is_file():
        return
    if target.is_file():
        old, new = target.stat(), source.stat()
        if (old.st_size, old.st_mtime) == (new.st_size, new.st_mtime):
            return
    shutil.copy2(source, target)  # keeps the mtime the next call compares


def _docker(*args: str) -> None:
    subprocess.run([docker(), *args], stdin=subprocess.DEVNULL, check=True)


def _docker_ok(*args: str) -> bool:
    result = subprocess.run(
        [docker(), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return result.returncode == 0
