"""`make run`: MongoDB, RabbitMQ and every service, until Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType

from devstack.infra import ensure_infra
from devstack.login import DEV_OPERATOR_EMAIL
from devstack.paths import DevstackError, repo_root, tail
from devstack.simulators import Simulator, embedded, simulator
from devstack.system import LOCALHOST, StackSettings, System, free_ports, port_in_use


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def simulator_log(log_dir: Path, simulator: Simulator) -> Path:
    return log_dir / f"{simulator.name}-simulator.log"


def start_simulators(
    state: Path,
    log_dir: Path,
    simulators: Sequence[Simulator] | None = None,
    timeout: float = 15.0,
) -> dict[str, subprocess.Popen[bytes]]:
    """Each simulator (by default those `make run` starts) as its own process, once its port
    answers.

    If one does not come up, the ones started are stopped and the error carries its log.
    """
    simulators = embedded() if simulators is None else simulators
    log_dir.mkdir(parents=True, exist_ok=True)
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for each in simulators:
            if port_in_use(each.port):
                raise DevstackError(
                    f"port {each.port} for the {each.name} simulator is already in use"
                )
            with simulator_log(log_dir, each).open("ab") as out:
                started[each.name] = subprocess.Popen(
                    each.command(sys.executable, LOCALHOST, state),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    # Own session, as the services: Ctrl-C reaches only the runner.
                    start_new_session=True,
                )
        for each in simulators:
            _wait_listening(each, started[each.name], log_dir, timeout)
    except BaseException:
        stop_simulators(started)
        raise
    return started


def _wait_listening(
    simulator: Simulator, process: subprocess.Popen[bytes], log_dir: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not port_in_use(simulator.port):
        log = simulator_log(log_dir, simulator)
        if process.poll() is not None:
            raise DevstackError(
                f"the {simulator.name} simulator exited with code {process.returncode}; "
                f"{log}:\n{tail(log)}"
            )
        if time.monotonic() >= deadline:
            raise DevstackError(
                f"the {simulator.name} simulator did not listen on {simulator.port} within "
                f"{timeout:.0f}s; {log}:\n{tail(log)}"
            )
        time.sleep(0.1)


def stop_simulators(started: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in started.values():
        process.terminate()
    for process in started.values():
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_simulator(name: str, state: Path) -> Iterator[Simulator]:
    """The simulator `name` of the table as its own process on a free port (as it is then),
    keeping what it keeps and its log under `state`, until the block ends."""
    on_free_port = replace(simulator(name), port=free_ports([name])[name])
    started = start_simulators(state, state, [on_free_port])
    try:
        yield on_free_port
    finally:
        stop_simulators(started)


def run(names: Sequence[str] | None = None) -> None:
    state = repo_root() / ".data"
    print("devstack: ensuring MongoDB and RabbitMQ ...", flush=True)
    infra = ensure_infra(state)
    # The services that talk to a third-party system talk to its simulator; the development
    # operator (`make token`) gets the operations role when they register.
    service_env = {s.client: s.client_env(LOCALHOST) for s in embedded()}
    service_env["identity"] = {
        **service_env.get("identity", {}),
        "OPERATOR_EMAILS": DEV_OPERATOR_EMAIL,
    }
    # The embedded blob store: a directory beside the other state.
    service_env["images"] = {"BLOB_STORE": "directory", "BLOB_DIR": str(state / "blobs")}
    settings = StackSettings(
        mongo_url=infra.mongo_url,
        amqp_url=infra.amqp_url,
        log_dir=state / "logs",
        service_env=service_env,
    )
    system = System(settings, names)
    simulators = start_simulators(state, settings.log_dir)
    # SIGTERM takes the same way out as Ctrl-C, so the services and simulators always stop.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        print("devstack: starting " + ", ".join(s.name for s in system.services), flush=True)
        system.start()
        _announce(system, infra.mongo_url, infra.amqp_url, state)
        _watch(system, simulators)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("\ndevstack: stopping services and simulators ...", flush=True)
        system.stop()
        stop_simulators(simulators)
        print(
            "devstack: services and simulators stopped. MongoDB and RabbitMQ keep running; "
            "the next `make run` reuses them.",
            flush=True,
        )


def _announce(system: System, mongo_url: str, amqp_url: str, state: Path) -> None:
    mailbox, analytics, gravatar = (
        simulator("mailbox"),
        simulator("analytics"),
        simulator("gravatar"),
    )
    log_dir = system.settings.log_dir
    rows: list[tuple[str, str]] = []
    if any(s.is_gateway for s in system.services):
        port = system.port("gateway")
        rows.append(("open", f"http://localhost:{port}   (the gateway, the only public entry)"))
    rows += [(s.name, system.url(s.name)) for s in system.services if not s.is_gateway]
    rows += [
        ("logs", f"{log_dir}/<service>.log, <simulator>-simulator.log"),
        ("", f"(MongoDB: {state}/mongod.log)"),
        ("mail", f"{state / str(mailbox.keeps)}/*.eml  (every email sent)"),
        ("", f"SMTP on {LOCALHOST}:{mailbox.port}, the mailbox simulator"),
        ("analytics", f"http://{LOCALHOST}:{analytics.port}/_simulator/events"),
        ("", "(what usages delivered, kept by the analytics simulator)"),
        ("gravatar", f"http://{LOCALHOST}:{gravatar.port}/_simulator/requests"),
        ("", "(the avatars profiles asked the Gravatar simulator for)"),
        ("blobs", f"{state}/blobs/images/<organization>/<image id>  (images' files)"),
        ("mongo", mongo_url),
        ("rabbitmq", amqp_url),
        ("token", f"`make token`: {DEV_OPERATOR_EMAIL} (an operator) logs in; their access token"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = ["", "devstack: up", *(f"  {label:<{width}} {text}" for label, text in rows)]
    print("\n".join([*lines, "Ctrl-C stops the services and the simulators."]), flush=True)


def _watch(system: System, simulators: dict[str, subprocess.Popen[bytes]]) -> None:
    reported: set[str] = set()
    log_dir = system.settings.log_dir
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
        for name, process in simulators.items():
            if process.poll() is not None and name not in reported:
                reported.add(name)
                log = simulator_log(log_dir, simulator(name))
                print(
                    f"devstack: the {name} simulator exited with code {process.returncode}; "
                    f"{log}:\n"
                    f"{tail(log, 20)}",
                    flush=True,
                )
