"""`make run`: MongoDB, RabbitMQ, the development key and every service, until Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from devstack.devkeys import ensure_dev_keys
from devstack.infra import ensure_infra
from devstack.paths import repo_root
from devstack.system import StackSettings, System
from simulators.mailbox import Mailbox

# The local SMTP server's port; the emails service is pointed at it.
SMTP_PORT = 1025


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


# The local stand-ins of third-party systems that services reach by default (libs/simulators):
# name -> the module's arguments. Usages' ANALYTICS_URL defaults to the analytics one.
SIMULATORS = {"analytics": ["simulators.analytics", "--port", "8190"]}


def start_simulators(log_dir: Path) -> list[subprocess.Popen[bytes]]:
    log_dir.mkdir(parents=True, exist_ok=True)
    started = []
    for name, arguments in SIMULATORS.items():
        with (log_dir / f"{name}-simulator.log").open("ab") as out:
            started.append(
                subprocess.Popen(
                    [sys.executable, "-m", *arguments],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    return started


def stop_simulators(started: list[subprocess.Popen[bytes]]) -> None:
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(names: Sequence[str] | None = None) -> None:
    state = repo_root() / ".data"
    print("devstack: ensuring MongoDB and RabbitMQ ...", flush=True)
    infra = ensure_infra(state)
    jwks = ensure_dev_keys(state / "dev-keys")
    # Every email sent is kept as a .eml file there, so a person can open its links.
    mailbox = Mailbox(state / "mail", port=SMTP_PORT)
    mailbox.start()
    settings = StackSettings(
        mongo_url=infra.mongo_url,
        amqp_url=infra.amqp_url,
        jwks_url=jwks.as_uri(),
        log_dir=state / "logs",
        service_env={"emails": {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(mailbox.port)}},
    )
    system = System(settings, names)
    simulators = start_simulators(settings.log_dir)
    # SIGTERM takes the same way out as Ctrl-C, so the services are always stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        print("devstack: starting " + ", ".join(s.name for s in system.services), flush=True)
        system.start()
        _announce(system, infra.mongo_url, infra.amqp_url, state)
        _watch(system)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("\ndevstack: stopping services ...", flush=True)
        system.stop()
        mailbox.stop()
        stop_simulators(simulators)
        print(
            "devstack: services stopped. MongoDB and RabbitMQ keep running; "
            "the next `make run` reuses them.",
            flush=True,
        )


def _announce(system: System, mongo_url: str, amqp_url: str, state: Path) -> None:
    lines = ["", "devstack: up"]
    if any(s.is_gateway for s in system.services):
        port = system.port("gateway")
        lines.append(f"  open      http://localhost:{port}   (the gateway, the only public entry)")
    lines += [f"  {s.name:<9} {system.url(s.name)}" for s in system.services if not s.is_gateway]
    lines += [
        f"  logs      {system.settings.log_dir}/<service>.log  (MongoDB: {state}/mongod.log)",
        f"  mail      {state / 'mail'}/*.eml  (every email sent; SMTP on 127.0.0.1:{SMTP_PORT})",
        f"  mongo     {mongo_url}",
        f"  rabbitmq  {amqp_url}",
        "  analytics http://127.0.0.1:8190/_simulator/events  (what usages delivered)",
        "  token     `make token` prints a development access token",
        "Ctrl-C stops the services.",
    ]
    print("\n".join(lines), flush=True)


def _watch(system: System) -> None:
    reported: set[str] = set()
    while True:
        time.sleep(1.0)
        for name, code in system.exited().items():
            if name not in reported:
                reported.add(name)
                print(
                    f"devstack: {name} exited with code {code}; {system.log_path(name)}:\n"
                    f"{system.log_tail(name, 20)}",
                    flush=True,
                )
