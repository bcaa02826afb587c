"""Every service as its own process on this machine: start, wait for /health, stop, kill."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from devstack.paths import DevstackError, repo_root, tail
from devstack.services import (
    ISSUER,
    JWKS_PATH,
    SERVICES,
    Service,
    backends,
    by_name,
    routes_json,
    upstreams_json,
    url_setting,
)

LOCALHOST = "127.0.0.1"
# The line that starts each run of a service in its log (the lines after it are its output).
RUN_HEADER = "=== "

# Health checks go straight to 127.0.0.1 even when the environment names an HTTP proxy.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class StackSettings:
    """What every service process is given; tests pass their own ports, DB prefix and vhost."""

    mongo_url: str
    amqp_url: str
    log_dir: Path
    ports: Mapping[str, int] = field(default_factory=dict)  # overrides the table's ports
    db_prefix: str = ""  # MONGO_DB is <db_prefix><service name>
    log_level: str = "INFO"
    env: Mapping[str, str] = field(default_factory=dict)  # extra variables for every service
    service_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # per service
    python: str = sys.executable
    # Where the services read the token signing keys: by default identity's JWKS, at the
    # port it has here (the table's when it is not part of the system).
    jwks_url: str | None = None


class System:
    """A set of service processes. Use as a context manager, or call start() and stop()."""

    def __init__(
        self, settings: StackSettings, services: Iterable[str | Service] | None = None
    ) -> None:
        chosen = SERVICES if services is None else services
        self.settings = settings
        self.services: tuple[Service, ...] = tuple(
            s if isinstance(s, Service) else by_name(s) for s in chosen
        )
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    # --- addresses and files -------------------------------------------------------------------

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(f"{name!r} is not part of this system")

    def port(self, name: str) -> int:
        return self.settings.ports.get(name, self.service(name).port)

    @property
    def jwks_url(self) -> str:
        if self.settings.jwks_url is not None:
            return self.settings.jwks_url
        port = self.settings.ports.get(ISSUER, by_name(ISSUER).port)
        return f"http://{LOCALHOST}:{port}{JWKS_PATH}"

    def url(self, name: str) -> str:
        return f"http://{LOCALHOST}:{self.port(name)}"

    def _url_of(self, name: str) -> str:
        """Where a service is, whether or not it is part of this system."""
        return f"http://{LOCALHOST}:{self.settings.ports.get(name, by_name(name).port)}"

    @property
    def gateway_url(self) -> str:
        return self.url(next(s.name for s in self.services if s.is_gateway))

    def log_path(self, name: str) -> Path:
        return self.settings.log_dir / f"{name}.log"

    def log_tail(self, name: str, lines: int = 40) -> str:
        return tail(self.log_path(name), lines)

    def env_for(self, name: str) -> dict[str, str]:
        s = self.settings
        env = dict(os.environ)
        no_proxy = ",".join(p for p in (env.get("NO_PROXY", ""), LOCALHOST, "localhost") if p)
        env.update(
            PYTHONUNBUFFERED="1",
            NO_PROXY=no_proxy,
            no_proxy=no_proxy,
            HOST=LOCALHOST,
            PORT=str(self.port(name)),
            MONGO_URL=s.mongo_url,
            MONGO_DB=f"{s.db_prefix}{name}",
            AMQP_URL=s.amqp_url,
            JWKS_URL=self.jwks_url,
            LOG_LEVEL=s.log_level,
        )
        if self.service(name).is_gateway:
            env["UPSTREAMS"] = upstreams_json(
                {b.name: self.url(b.name) for b in backends(self.services)}
            )
            env["ROUTES"] = routes_json(self.services)
        service = self.service(name)
        env.update({setting: str(repo_root() / path) for setting, path in service.files})
        env.update({url_setting(called): self._url_of(called) for called in service.calls})
        env.update(s.env)
        env.update(s.service_env.get(name, {}))
        return env

    # --- lifecycle -----------------------------------------------------------------------------

    def is_running(self, name: str) -> bool:
        process = self._processes.get(name)
        return process is not None and process.poll() is None

    def pid(self, name: str) -> int:
        return self._processes[name].pid

    def exited(self) -> dict[str, int]:
        """Services that died on their own since they were started: name -> exit code."""
        return {name: code for name, p in self._processes.items() if (code := p.poll()) is not None}

    def start(
        self,
        names: Iterable[str] | None = None,
        timeout: float = 60.0,
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Start the named services (default: all not running) and wait until each is healthy.

        `env` adds variables for the processes this call starts only (a crash test's
        `FAULT_POINT`): the next start goes without them. The gateway starts after the
        services it routes to. If one does not come up, the ones this call started are killed
        and the error carries that service's log tail.
        """
        wanted = [self.service(n) for n in names] if names is not None else list(self.services)
        pending = [s for s in wanted if not self.is_running(s.name)]
        started: list[str] = []
        try:
            for group in (
                [s for s in pending if not s.is_gateway],
                [s for s in pending if s.is_gateway],
            ):
                for service in group:
                    self._spawn(service, env or {})
                    started.append(service.name)
                for service in group:
                    self._wait_healthy(service.name, timeout)
        except BaseException:
            for name in started:
                self.kill(name)
            raise

    def stop(self, names: Iterable[str] | None = None, grace: float = 10.0) -> None:
        """SIGTERM (and SIGCONT, for a paused one), then SIGKILL whatever is still running
        after `grace` seconds."""
        chosen = list(self._processes) if names is None else list(names)
        for name in chosen:
            self._signal(name, signal.SIGTERM)
            self._signal(name, signal.SIGCONT)  # a paused one handles its SIGTERM too
        deadline = time.monotonic() + grace
        for name in chosen:
            process = self._processes.pop(name, None)
            if process is None:
                continue
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._killpg(process, signal.SIGKILL)
                process.wait()

    def is_paused(self, name: str) -> bool:
        """True while the service is stopped by SIGSTOP, as a `pause_` fault point stops it
        (read from Linux's /proc)."""
        stat = Path(f"/proc/{self.pid(name)}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] == "T"

    def resume(self, name: str) -> None:
        """SIGCONT a paused service: it goes on where it stopped."""
        self._signal(name, signal.SIGCONT)

    def kill(self, name: str) -> None:
        """SIGKILL one service, as a crash would; start([name]) brings it back."""
        process = self._processes.pop(name, None)
        if process is not None:
            self._killpg(process, signal.SIGKILL)
            process.wait()

    def __enter__(self) -> System:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- internals -----------------------------------------------------------------------------

    def _spawn(self, service: Service, extra_env: Mapping[str, str]) -> None:
        port = self.port(service.name)
        if port_in_use(port):
            raise DevstackError(f"port {port} for {service.name} is already in use")
        log = self.log_path(service.name)
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [self.settings.python, "-m", service.module]
        with log.open("ab") as out:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            out.write(f"{RUN_HEADER}{stamp} {' '.join(command)} on port {port}\n".encode())
            out.flush()
            # Own session: Ctrl-C in the terminal reaches only the runner, which stops services
            # in order, and killpg also reaches anything a service spawned.
            self._processes[service.name] = subprocess.Popen(
                command,
                env={**self.env_for(service.name), **extra_env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_healthy(self, name: str, timeout: float) -> None:
        process = self._processes[name]
        health = f"{self.url(name)}/health"
        deadline = time.monotonic() + timeout
        while True:
            code = process.poll()
            if code is not None:
                raise DevstackError(
                    f"{name} exited with code {code} before {health} answered; "
                    f"{self.log_path(name)}:\n{self.log_tail(name)}"
                )
            if _answers_200(health):
                return
            if time.monotonic() >= deadline:
                raise DevstackError(
                    f"{name} did not answer 200 on {health} within {timeout:.0f}s; "
                    f"{self.log_path(name)}:\n{self.log_tail(name)}"
                )
            time.sleep(0.1)

    def _signal(self, name: str, signum: signal.Signals) -> None:
        process = self._processes.get(name)
        if process is not None:
            self._killpg(process, signum)

    @staticmethod
    def _killpg(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
        if process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signum)


def free_ports(names: Iterable[str]) -> dict[str, int]:
    """Ports nothing listens on right now, one per name (for test systems beside `make run`)."""
    with ExitStack() as stack:
        ports: dict[str, int] = {}
        for name in names:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOCALHOST, 0))
            ports[name] = sock.getsockname()[1]
        return ports


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((LOCALHOST, port)) == 0


def _answers_200(url: str) -> bool:
    try:
        with _http.open(url, timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
