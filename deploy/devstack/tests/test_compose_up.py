"""The platform in containers, for real: `make test-compose` (deselected from `make test`).

Builds the images from docker-compose.yml (with deploy/docker/offline.yml when no registry
serves the official images), starts them under a project name of its own, on a free gateway
port, registers a person through identity (confirmed with the token of the email the SMTP
server received), drives the car-sharing story with their login's token through the gateway's
published port, then one cheap story per ancillary service (the audits of that story, the
flags of the mounted file, contact sales reaching the SMTP server, a page view reaching the
analytics simulator), and removes what it made (containers, volumes, network, image tags)
whatever happens, printing the containers' logs when something failed.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage

import aiohttp
import pytest
import yaml

from devstack import containers
from devstack.generate import (
    GATEWAY_PORT_VAR,
    IMAGE_TAG_VAR,
    MAILPIT_UI_PORT,
    SIMULATOR_STATE,
    compose_host,
    service_image,
    simulator_image,
)
from devstack.paths import repo_root
from devstack.services import SERVICES, by_name
from devstack.simulators import SIMULATORS, simulator
from devstack.system import LOCALHOST, free_ports
from testkit.analytics import AnalyticsSimulator
from testkit.api import PlatformClient, Profile
from testkit.clock import hours_from_now
from testkit.identity import People, delivered_tokens
from testkit.images import png
from testkit.waiting import eventually

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


def published(project: containers.ComposeProject, name: str, port: int) -> str:
    """The loopback address docker-compose published a container's port on."""
    answer = project.output("port", name, str(port)).strip().splitlines()
    host_port = answer[-1].rsplit(":", 1)[-1] if answer else ""
    assert host_port.isdigit(), f"{name}:{port} is not published: {answer}"
    return f"http://{LOCALHOST}:{host_port}"


def messages(project: containers.ComposeProject, offline: bool) -> list[EmailMessage]:
    """Every message the SMTP server of the stack received, oldest first: Mailpit's API, or
    offline the .eml files the mailbox simulator keeps in its container."""
    mailbox = simulator("mailbox")
    host = compose_host(mailbox)
    if not offline:
        url = published(project, host, MAILPIT_UI_PORT)
        with _http.open(f"{url}/api/v1/messages?limit=500", timeout=5) as response:
            listed = json.load(response)["messages"]
        raw = []
        for message in reversed(listed):  # Mailpit lists the newest first
            with _http.open(f"{url}/api/v1/message/{message['ID']}/raw", timeout=5) as response:
                raw.append(response.read())
    else:
        script = (
            "import json, pathlib; print(json.dumps([p.read_text(errors='replace') for p in "
            f"sorted(pathlib.Path('{SIMULATOR_STATE}/{mailbox.keeps}').glob('*.eml'), "
            "key=lambda p: p.stat().st_mtime_ns)]))"
        )
        answer = project.output("exec", "-T", host, "python", "-c", script).strip().splitlines()
        raw = [text.encode() for text in json.loads(answer[-1])] if answer else []
    parsed = [email.message_from_bytes(r, policy=email.policy.default) for r in raw]
    return [m for m in parsed if isinstance(m, EmailMessage)]


def recipients(project: containers.ComposeProject, offline: bool) -> set[str]:
    return {str(message["To"]) for message in messages(project, offline)}


async def log_in(project: containers.ComposeProject, offline: bool, gateway: str) -> str:
    """A person registered, confirmed from their email and logged in: their access token,
    which acts for their own organization as its owner."""

    async def received() -> list[EmailMessage]:
        return await asyncio.to_thread(messages, project, offline)

    async with aiohttp.ClientSession() as http:
        people = People(PlatformClient(http, gateway, None), delivered_tokens(received, 60))
        return (await people.person()).access_token


async def ancillary_stories(
    project: containers.ComposeProject, offline: bool, gateway: str, owner: str
) -> None:
    analytics = AnalyticsSimulator(published(project, "analytics", simulator("analytics").port))
    async with aiohttp.ClientSession() as http:
        api = PlatformClient(http, gateway, owner)
        anonymous = api.as_caller(None)

        # audits: what the car-sharing story did, recorded for its tenant.
        async def audited() -> bool:
            return {e.action for e in await api.audits()} >= {
                "cars.car_reserved",
                "bookings.booking_made",
                "bookings.booking_cancelled",
            }

        await eventually(audited, timeout=30, interval=0.5)

        # flags: the file mounted into the container (deploy/flags.yaml) is the one read.
        flags_file = repo_root() / dict(by_name("flags").files)["FLAGS_FILE"]
        development = yaml.safe_load(flags_file.read_text())["development"]
        assert {f.name for f in await api.flags()} == set(development)

        # emails: contact sales reaches the SMTP server, for the sales team and the prospect.
        prospect = f"buyer-{uuid.uuid4().hex[:8]}@example.com"
        body = {"email": prospect, "company": "Acme", "message": "We have 40 cars to share."}
        await anonymous.expect(202, "POST", "/contact-sales", json=body)
        await eventually(
            lambda: any(prospect in to for to in recipients(project, offline)),
            timeout=60,
            interval=1.0,
        )

        # usages: a visitor's page view reaches the analytics simulator.
        visitor = f"anon-{uuid.uuid4().hex}"
        view = await anonymous.record("pageview", {"path": "/pricing", "anonymous_id": visitor})

        async def delivered() -> list[dict[str, object]]:
            return [e for e in (await analytics.received()).events if e["uuid"] == view.id]

        [event] = await eventually(delivered, timeout=30, interval=0.5)
        assert (event["event"], event["distinct_id"]) == ("$pageview", visitor)

        # images: kept in the S3 server (MinIO, or offline moto's), back whole.
        picture = png((32, 32))
        image = await api.upload_image(picture, description="In the containers")
        assert (await api.download_image(image.id)).body == picture

        # profiles: the owner's, made on registration, its avatar looked up at the Gravatar
        # simulator (the address is random: it may have none); an avatar streamed through to
        # images (IMAGES_URL), which anyone downloads.
        async def looked_up() -> Profile | None:
            answer = await api.call("GET", "/profiles/me")
            profile = answer.parse(Profile) if answer.status == 200 else None
            return profile if profile and profile.avatar_lookup == "done" else None

        profile: Profile = await eventually(looked_up, timeout=60, interval=0.5)
        assert profile.avatar is None or profile.avatar.url.startswith("http://gravatar:")
        avatar = (await api.upload_avatar(profile.user_id, picture)).avatar
        assert avatar is not None
        assert (await anonymous.call("GET", avatar.url)).body == picture


def test_the_car_sharing_story_in_containers() -> None:
    root = repo_root()
    offline, files = containers.compose_files(root)
    name = f"platformtest{uuid.uuid4().hex[:8]}"
    port = free_ports([GATEWAY_PORT_VAR])[GATEWAY_PORT_VAR]
    variables = {GATEWAY_PORT_VAR: str(port), IMAGE_TAG_VAR: name}
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
        with timed("login", timings):
            token = asyncio.run(log_in(project, offline, gateway))
        with timed("story", timings):
            asyncio.run(car_sharing_story(gateway, token))
        with timed("ancillary stories", timings):
            asyncio.run(ancillary_stories(project, offline, gateway, token))
    except BaseException:
        print(project.output("ps"))
        print(project.output("logs", "--no-color", "--tail=200"))
        raise
    finally:
        with timed("down", timings):
            project.run("down", "-v", "--remove-orphans", timeout=300)
            # The tags only: the layers stay, the next run's build is a cache hit.
            tags = [service_image(s, name) for s in SERVICES]
            tags += [simulator_image(s, name) for s in SIMULATORS]
            subprocess.run(
                [containers.docker(), "image", "rm", "--no-prune", *tags],
                stdout=subprocess.DEVNULL,
                check=False,
            )
        print("compose: " + ", ".join(f"{step} {sec:.1f}s" for step, sec in timings.items()))
