"""The platform in containers, for real: `make test-compose` (deselected from `make test`).

Builds the images from docker-compose.yml (with deploy/docker/offline.yml when no registry
serves the official images), starts them under a project name of its own, on a free gateway
port and with a throwaway signing key, drives the car-sharing story through the gateway's
published port, and removes what it made (containers, volumes, network, image tags) whatever
happens, printing the containers' logs when something failed.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from devstack import containers
from devstack.generate import DEV_KEYS_VAR, GATEWAY_PORT_VAR, IMAGE_TAG_VAR, service_image
from devstack.paths import repo_root
from devstack.services import SERVICES
from devstack.system import LOCALHOST, free_ports
from testkit.api import PlatformClient
from testkit.clock import hours_from_now
from testkit.tokens import DevSigningKey

# A cold run builds every image: minutes, not the five the other tests are allowed.
pytestmark = [pytest.mark.compose, pytest.mark.timeout(1800)]

HEALTHY_WITHIN = 180.0
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@contextmanager
def timed(step: str, timings: dict[str, float]) -> Iterator[None]:
    started = time.monotonic()
    yield
    timings[step] = time.monotonic() - started


def wait_healthy(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with _http.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() >= deadline:
            raise AssertionError(f"{url} did not answer 200 within {timeout:.0f}s")
        time.sleep(1.0)


async def car_sharing_story(gateway: str, token: str) -> None:
    async with aiohttp.ClientSession() as http:
        api = PlatformClient(http, gateway, token)
        toyota = await api.register_car(make="Toyota")
        mazda = await api.register_car(make="Mazda")
        honda = await api.register_car(make="Honda")
        await api.maintain(toyota.id, hours_from_now(1), hours_from_now(4))
        await api.take_offline(mazda.id, hours_from_now(0), hours_from_now(2))

        window = (hours_from_now(1), hours_from_now(3))
        assert [car.id for car in await api.available_cars(*window)] == [honda.id]
        booking = await api.book(honda.id, *window)
        again = await api.call("POST", "/bookings", json=api.trip(honda.id, *window))
        again.problem(409)
        slots = await api.unavailabilities(honda.id)
        assert [(s.cause, s.booking_id) for s in slots] == [("reservation", booking.id)]

        await api.cancel_booking(booking.id)
        assert await api.unavailabilities(honda.id) == []
        assert [car.id for car in await api.available_cars(*window)] == [honda.id]
        await api.book(honda.id, *window)

        await api.delete_car(mazda.id)
        (await api.call("GET", f"/cars/{mazda.id}")).problem(404)


def test_the_car_sharing_story_in_containers(tmp_path: Path) -> None:
    root = repo_root()
    offline, files = containers.compose_files(root)
    key = DevSigningKey.generate()
    keys = key.write_jwks(tmp_path / "keys" / "jwks.json").parent
    keys.chmod(0o755)  # the services run as an unprivileged user
    name = f"platformtest{uuid.uuid4().hex[:8]}"
    port = free_ports([GATEWAY_PORT_VAR])[GATEWAY_PORT_VAR]
    variables = {GATEWAY_PORT_VAR: str(port), DEV_KEYS_VAR: str(keys), IMAGE_TAG_VAR: name}
    project = containers.ComposeProject(root, files, name, variables)
    gateway = f"http://{LOCALHOST}:{port}"
    timings: dict[str, float] = {}
    print(f"\ncompose: project {name}, {'local' if offline else 'official'} images, {gateway}")
    try:
        with timed("build", timings):
            project.run("build", timeout=1200)
        with timed("up until healthy", timings):
            project.run("up", "-d", timeout=600)
            wait_healthy(f"{gateway}/health", HEALTHY_WITHIN)
        with timed("story", timings):
            asyncio.run(car_sharing_story(gateway, key.mint(tenant_id=f"tenant-{name}")))
    except BaseException:
        print(project.output("ps"))
        print(project.output("logs", "--no-color", "--tail=200"))
        raise
    finally:
        with timed("down", timings):
            project.run("down", "-v", "--remove-orphans", timeout=300)
            # The tags only: the layers stay, the next run's build is a cache hit.
            tags = [service_image(s, name) for s in SERVICES]
            subprocess.run(
                [containers.docker(), "image", "rm", "--no-prune", *tags],
                stdout=subprocess.DEVNULL,
                check=False,
            )
        print("compose: " + ", ".join(f"{step} {sec:.1f}s" for step, sec in timings.items()))
