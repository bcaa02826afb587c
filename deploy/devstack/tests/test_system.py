"""System against stand-in services: tiny HTTP servers that report the environment they got."""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from devstack.paths import DevstackError
from devstack.services import GATEWAY, ISSUER, Service
from devstack.system import StackSettings, System, free_ports

FAKE_SERVICE = textwrap.dedent(
    """
    import http.server, json, os, signal, sys

    if os.environ.get("FAKE_FAIL"):
        print("boom: cannot start", flush=True)
        sys.exit(3)
    def terminated(*_):
        print("terminated", flush=True)
        sys.exit(0)

    if os.environ.get("FAKE_IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, terminated)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(dict(os.environ, PID=str(os.getpid()))).encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    print("fake listening", flush=True)
    server = http.server.HTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler)
    server.serve_forever()
    """
)

NAMES = ("alpha", "beta", GATEWAY)


@pytest.fixture
def settings(tmp_path: Path) -> StackSettings:
    package = tmp_path / "code" / "fakesvc"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(FAKE_SERVICE)
    return StackSettings(
        mongo_url="mongodb://127.0.0.1:27017/?replicaSet=rs0",
        amqp_url="amqp://guest:guest@127.0.0.1:5672/t1",
        log_dir=tmp_path / "logs",
        # identity's port too: the services read its JWKS, though it is not part of the system.
        ports=free_ports((*NAMES, ISSUER)),
        db_prefix="t1_",
        env={"PYTHONPATH": str(tmp_path / "code")},
    )


def fake_services(settings: StackSettings) -> list[Service]:
    return [Service(name=n, module="fakesvc", port=settings.ports[n]) for n in NAMES]


@pytest.fixture
def system(settings: StackSettings) -> Iterator[System]:
    system = System(settings, fake_services(settings))
    yield system
    system.stop(grace=1)


def environment_of(system: System, name: str) -> dict[str, str]:
    with urllib.request.urlopen(f"{system.url(name)}/env", timeout=5) as response:
        env: dict[str, str] = json.load(response)
        return env


def test_services_get_their_settings_and_the_gateway_its_upstreams(system: System) -> None:
    system.start()
    alpha = environment_of(system, "alpha")
    assert alpha["PORT"] == str(system.port("alpha"))
    assert alpha["MONGO_DB"] == "t1_alpha"
    assert alpha["AMQP_URL"] == "amqp://guest:guest@127.0.0.1:5672/t1"
    identity = f"http://127.0.0.1:{system.settings.ports[ISSUER]}"
    assert alpha["JWKS_URL"] == f"{identity}/.well-known/jwks.json"
    assert "UPSTREAMS" not in alpha
    upstreams = json.loads(environment_of(system, GATEWAY)["UPSTREAMS"])
    assert upstreams == {"alpha": system.url("alpha"), "beta": system.url("beta")}
    assert system.gateway_url == system.url(GATEWAY)
    assert "fake listening" in system.log_tail("alpha")


def test_a_jwks_url_given_replaces_identitys(settings: StackSettings) -> None:
    given = replace(settings, jwks_url="file:///keys/jwks.json")
    system = System(given, fake_services(settings))
    assert system.env_for("alpha")["JWKS_URL"] == "file:///keys/jwks.json"


def test_a_killed_service_comes_back_on_start(system: System) -> None:
    system.start()
    first_pid = environment_of(system, "beta")["PID"]
    system.kill("beta")
    assert not system.is_running("beta")
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{system.url('beta')}/health", timeout=2)
    system.start(["beta"])
    assert environment_of(system, "beta")["PID"] != first_pid
    assert system.is_running("alpha") and system.is_running(GATEWAY)


def test_extra_variables_go_to_one_start_only(system: System) -> None:
    system.start(["alpha"], env={"FAULT_POINT": "after_commit_before_ack"})
    assert environment_of(system, "alpha")["FAULT_POINT"] == "after_commit_before_ack"
    system.kill("alpha")
    system.start(["alpha"])
    assert "FAULT_POINT" not in environment_of(system, "alpha")


def test_a_paused_service_is_seen_paused_resumes_and_stops(system: System) -> None:
    system.start(["alpha"])
    os.kill(system.pid("alpha"), signal.SIGSTOP)  # as a `pause_` fault point stops it
    wait_until(lambda: system.is_paused("alpha"))
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{system.url('alpha')}/env", timeout=0.5)
    system.resume("alpha")
    assert not system.is_paused("alpha")
    assert environment_of(system, "alpha")["PORT"] == str(system.port("alpha"))
    os.kill(system.pid("alpha"), signal.SIGSTOP)
    wait_until(lambda: system.is_paused("alpha"))
    system.stop(grace=5)
    assert "terminated" in system.log_tail("alpha"), "its SIGTERM reached it, not only SIGKILL"


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the timeout"
        time.sleep(0.02)


def test_a_service_that_dies_at_start_fails_with_its_log(settings: StackSettings) -> None:
    failing = StackSettings(**{**vars(settings), "service_env": {"beta": {"FAKE_FAIL": "1"}}})
    system = System(failing, fake_services(settings))
    with pytest.raises(DevstackError, match=r"(?s)beta exited with code 3.*boom: cannot start"):
        system.start()
    assert not system.is_running("alpha"), "services started by the failed call are stopped"


def test_stop_kills_what_ignores_sigterm(settings: StackSettings) -> None:
    stubborn = StackSettings(**{**vars(settings), "env": {**settings.env, "FAKE_IGNORE_TERM": "1"}})
    system = System(stubborn, fake_services(settings)[:1])
    system.start()
    pid = system.pid("alpha")
    system.stop(grace=0.5)
    # Asked of the operating system: `stop` forgets its processes, so the System cannot tell.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_taken_port_is_reported(system: System) -> None:
    system.start(["alpha"])
    twin = System(system.settings, system.services)
    with pytest.raises(DevstackError, match="already in use"):
        twin.start(["alpha"])


def test_a_service_is_given_the_repository_files_it_reads_by_absolute_path(tmp_path: Path) -> None:
    reader = Service("reader", "reader", 1, ("/r",), files=(("THING_FILE", "deploy/thing.yaml"),))
    settings = StackSettings("mongodb://m", "amqp://a", tmp_path)
    env = System(settings, [reader]).env_for("reader")
    assert Path(env["THING_FILE"]).is_absolute()
    assert env["THING_FILE"].endswith("/deploy/thing.yaml")
    assert (Path(env["THING_FILE"]).parent.parent / "uv.lock").is_file()
    # A test's own settings win over the table's.
    tests = StackSettings(
        "mongodb://m",
        "amqp://a",
        tmp_path,
        service_env={"reader": {"THING_FILE": "x"}},
    )
    assert System(tests, [reader]).env_for("reader")["THING_FILE"] == "x"
