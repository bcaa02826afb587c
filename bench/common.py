"""What every benchmark shares: throwaway infrastructure, a light load generator, tables.

Each run gets its own RabbitMQ vhost and its own MongoDB database prefix; both are removed
when the run ends, whatever happened. Access tokens come from identity, as everywhere but in
unit tests: a benchmark registers, confirms and logs in a person of its own (`person`), and
every service trusts identity's JWKS.

The machine has two cores, and the load generator shares them with the processes it
measures: it is one asyncio process with a pooled aiohttp client and a fixed concurrency.
Figures are only ever compared with a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from pymongo import AsyncMongoClient, MongoClient

from chassis.logging import configure_logging
from chassis.storage.inbox import INBOX
from chassis.storage.outbox import OUTBOX, PENDING
from devstack import infra
from devstack.services import SERVICES
from devstack.system import StackSettings, System, free_ports
from testkit.analytics import simulator_process
from testkit.api import PlatformClient
from testkit.identity import Mailbag, People, Person
from testkit.rabbit import Rabbit

BENCH_DIR = Path(__file__).resolve().parent
LOCALHOST = "127.0.0.1"

# --- infrastructure -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchEnv:
    """One run's throwaway vhost, database prefix and scratch directory."""

    mongo_url: str
    amqp_url: str
    vhost: str
    run_id: str
    workdir: Path

    @property
    def db_prefix(self) -> str:
        return f"bench{self.run_id}_"

    def db_name(self, service: str) -> str:
        return f"{self.db_prefix}{service}"


@contextmanager
def bench_env() -> Iterator[BenchEnv]:
    """MongoDB and RabbitMQ (started if absent), a fresh vhost and DB prefix; cleaned up after.

    Chassis parts run in this process log warnings and worse only, as the services do.
    """
    configure_logging("bench", "WARNING")
    started = infra.ensure_infra()
    run_id = uuid.uuid4().hex[:8]
    vhost = f"bench-{run_id}"
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{run_id}-"))
    try:
        amqp_url = infra.create_vhost(vhost)
        yield BenchEnv(started.mongo_url, amqp_url, vhost, run_id, workdir)
    finally:
        infra.delete_vhost(vhost)
        drop_databases(started.mongo_url, f"bench{run_id}_")
        shutil.rmtree(workdir, ignore_errors=True)


def drop_databases(mongo_url: str, prefix: str) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(mongo_url)
    with client:
        for name in client.list_database_names():
            if name.startswith(prefix):
                client.drop_database(name)


# The gateway's rate limits (100/s per caller, stricter on /record) would answer 429 to a benchmark.
SYSTEM_ENV = {"RATE_LIMIT_PER_SECOND": "0", "ROUTE_RATE_LIMITS": "[]"}


@contextmanager
def running_system(env: BenchEnv, log_level: str = "INFO") -> Iterator[System]:
    """Every service as its own process (devstack), on free ports, in this run's vhost; usages
    delivers to an analytics simulator of its own."""
    analytics_port = free_ports(["analytics"])["analytics"]
    with simulator_process(analytics_port, env.workdir) as analytics:
        usages_env = {"ANALYTICS_URL": analytics.url, "ANALYTICS_API_KEY": analytics.api_key}
        with running_services(env, {"usages": usages_env}, log_level=log_level) as system:
            yield system


@contextmanager
def running_services(
    env: BenchEnv,
    service_env: Mapping[str, Mapping[str, str]],
    names: Iterable[str] | None = None,
    log_level: str = "INFO",
) -> Iterator[System]:
    """The services named (all by default), each as its own process, on free ports."""
    settings = StackSettings(
        mongo_url=env.mongo_url,
        amqp_url=env.amqp_url,
        log_dir=env.workdir / "logs",
        ports=free_ports(s.name for s in SERVICES),
        db_prefix=env.db_prefix,
        log_level=log_level,
        env=SYSTEM_ENV,
        service_env=service_env,
        python=sys.executable,
    )
    system = System(settings, names)
    system.start(timeout=60)
    try:
        yield system
    finally:
        system.stop()


@dataclass(frozen=True)
class Server:
    url: str
    pid: int


@contextmanager
def hello_server(env: BenchEnv) -> Iterator[Server]:
    """bench/hello_server.py as its own process on a free port."""
    port = free_ports(["hello"])["hello"]
    log = env.workdir / "hello.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "hello_server.py"), str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while not _accepts(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hello server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield Server(f"http://{LOCALHOST}:{port}", process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((LOCALHOST, port)) == 0


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) used so far by process `pid`, or by this process."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of stat(5), counted after the ")" that ends the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(pids: Mapping[str, int | None]) -> dict[str, float]:
    """CPU seconds used so far by each named process (None: this process)."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has been busy so far, whoever's the work: the
    difference from the processes measured is a neighbour's (tests run beside a benchmark)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    # user nice system idle iowait irq softirq steal: all but idle and iowait.
    busy = sum(int(v) for i, v in enumerate(fields[:8]) if i not in (3, 4))
    return busy / os.sysconf("SC_CLK_TCK")


def system_pids(system: System, names: Sequence[str]) -> dict[str, int | None]:
    """This process (the load generator), the named services, and MongoDB and RabbitMQ when
    they run on this machine."""
    pids: dict[str, int | None] = {LOAD_GENERATOR: None}
    pids.update({name: system.pid(name) for name in names})
    pids.update(infra_pids())
    return pids


LOAD_GENERATOR = "load generator"
MACHINE = "whole machine"
# The infrastructure's processes by their command name (/proc/<pid>/comm).
INFRA_COMMANDS = {"mongod": "mongod", "beam.smp": "rabbitmq"}


def infra_pids() -> dict[str, int]:
    """The local mongod and RabbitMQ (its Erlang VM) by name, whoever started them.

    They serve every user of the machine, so their CPU during a measurement includes any
    neighbour's work: figures that count them are upper bounds.
    """
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name in INFRA_COMMANDS and INFRA_COMMANDS[name] not in found:
            found[INFRA_COMMANDS[name]] = int(entry.name)
    return found


# The commands a service's own work sends (the driver's handshakes and monitoring aside).
MONGO_COMMANDS = (
    "find",
    "insert",
    "update",
    "delete",
    "findAndModify",
    "getMore",
    "commitTransaction",
    "abortTransaction",
)


async def mongo_commands(client: AsyncMongoClient[dict[str, Any]]) -> dict[str, int]:
    """How many of each command mongod has run since it started (its own counters: every
    client's, so a figure taken on a shared machine is an upper bound)."""
    status = await client.admin.command("serverStatus")
    counted = status["metrics"]["commands"]
    return {name: int(counted.get(name, {}).get("total", 0)) for name in MONGO_COMMANDS}


async def settle(env: BenchEnv, services: Sequence[str], timeout: float = 30.0) -> None:
    """Wait until the services' background work is done: nothing pending in any outbox and
    no inbox still growing, so one measurement does not pay for the previous one's events."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(env.mongo_url)
    try:
        previous: list[int] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pending, received = [], []
            for service in services:
                db = client[env.db_name(service)]
                pending.append(await db[OUTBOX].count_documents({"status": PENDING}))
                received.append(await db[INBOX].count_documents({}))
            if not any(pending) and received == previous:
                return
            previous = received
            await asyncio.sleep(0.3)
        print(f"! the services were still busy after {timeout:.0f}s; measuring anyway")
    finally:
        await client.close()


@asynccontextmanager
async def identity_people(
    env: BenchEnv, system: System, session: aiohttp.ClientSession
) -> AsyncIterator[People]:
    """Registers, confirms and logs in people through the gateway.

    The confirmation token is the one identity publishes for the emails service
    (EmailRequested), read by a queue of this process bound to the event, as identity's own
    tests read it: no SMTP server needs to run.
    """
    async with Rabbit.connect(env.amqp_url) as rabbit:
        mailbag = Mailbag(rabbit)
        await mailbag.start()
        yield People(PlatformClient(session, system.gateway_url, None), mailbag.token)


async def person(env: BenchEnv, system: System, session: aiohttp.ClientSession) -> Person:
    """A new person, registered, confirmed and logged in (their own organization's owner)."""
    async with identity_people(env, system, session) as people:
        return await people.person()


# --- load generation ----------------------------------------------------------------------------

# One request: given the session and the request's index, answer (status, body).
Request = Callable[[aiohttp.ClientSession, int], Awaitable[tuple[int, bytes]]]


@dataclass(frozen=True)
class Stats:
    label: str
    concurrency: int
    requests: int
    errors: int
    elapsed: float  # seconds, first request sent to last answer read
    latencies: tuple[float, ...]  # seconds, sorted
    first_error: str | None = None

    @property
    def rps(self) -> float:
        """Requests answered as expected, per second: a refused one is no throughput."""
        return (self.requests - self.errors) / self.elapsed if self.elapsed > 0 else 0.0

    def ms(self, q: float) -> float:
        """The q-quantile of latency in milliseconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        rank = max(0, min(len(self.latencies) - 1, round(q * len(self.latencies)) - 1))
        return self.latencies[rank] * 1000


def client_session(concurrency: int) -> aiohttp.ClientSession:
    """A pooled keep-alive client with exactly `concurrency` connections."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency),
        timeout=aiohttp.ClientTimeout(total=60),
    )


async def drive(
    session: aiohttp.ClientSession,
    request: Request,
    *,
    total: int,
    concurrency: int,
    label: str,
    expect: Sequence[int] = (200,),
    first_index: int = 0,
) -> Stats:
    """Send `total` requests, `concurrency` at a time (closed loop), and time each one."""
    next_index = first_index
    end = first_index + total
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None

    async def worker() -> None:
        nonlocal next_index, errors, first_error
        while next_index < end:
            index = next_index
            next_index += 1
            started = time.perf_counter()
            try:
                status, body = await request(session, index)
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, body = -1, repr(exc).encode()
            latencies.append(time.perf_counter() - started)
            if status not in expect:
                errors += 1
                if first_error is None:
                    first_error = f"{status}: {body[:300].decode(errors='replace')}"

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, total)))))
    elapsed = time.perf_counter() - started
    return Stats(label, concurrency, total, errors, elapsed, tuple(sorted(latencies)), first_error)


def get(url: str, headers: Mapping[str, str] | None = None) -> Request:
    async def request(session: aiohttp.ClientSession, _: int) -> tuple[int, bytes]:
        async with session.get(url, headers=headers) as response:
            return response.status, await response.read()

    return request


def median_by_rps(runs: Sequence[Stats]) -> Stats:
    """The run with the median throughput (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda s: s.rps)
    return ordered[(len(ordered) - 1) // 2]


@dataclass(frozen=True)
class Round:
    stats: Stats
    cpu: dict[str, float]  # CPU seconds each process used during the round, and the machine


def median_round(rounds: Sequence[Round]) -> Round:
    chosen = median_by_rps([r.stats for r in rounds])
    return next(r for r in rounds if r.stats is chosen)


@dataclass(frozen=True)
class RoundPlan:
    """How HTTP targets are measured in alternating rounds: `requests` per target per round
    at `concurrency`, after `warmup` requests each."""

    requests: int
    warmup: int
    rounds: int
    concurrency: int

    @staticmethod
    def parser(doc: str | None, *, warmup: int, concurrency: int) -> argparse.ArgumentParser:
        """A benchmark's options: the plan's, and the services' log level."""
        p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
        p.add_argument("--requests", type=int, default=1500, help="per target per round")
        p.add_argument("--warmup", type=int, default=warmup, help="per target, not measured")
        p.add_argument("--rounds", type=int, default=3)
        p.add_argument("--concurrency", type=int, default=concurrency)
        p.add_argument("--log-level", default="INFO", help="of the service processes")
        return p

    @classmethod
    def of(cls, args: argparse.Namespace) -> RoundPlan:
        return cls(args.requests, args.warmup, args.rounds, args.concurrency)

    def describe(self, what: str) -> str:
        return (
            f"{what}: {self.rounds} rounds x {self.requests} requests per target, concurrency "
            f"{self.concurrency}, after {self.warmup} warm-up requests each; the "
            "median-throughput round is shown"
        )


async def interleaved(
    session: aiohttp.ClientSession,
    targets: Mapping[str, Request],
    pids: Mapping[str, int | None],
    plan: RoundPlan,
) -> dict[str, list[Round]]:
    """Each target warmed up, then measured in `plan.rounds` rounds whose order alternates,
    with the CPU each process of `pids` used during each."""
    concurrency = plan.concurrency
    for name, request in targets.items():
        await drive(session, request, total=plan.warmup, concurrency=concurrency, label=name)
    runs: dict[str, list[Round]] = {name: [] for name in targets}
    for round_no in range(plan.rounds):
        # Alternate the order so that drift (caches, GC, a neighbour) hits every target.
        order = list(targets) if round_no % 2 == 0 else list(reversed(list(targets)))
        for name in order:
            before, machine = cpu_snapshot(pids), machine_busy_seconds()
            stats = await drive(
                session, targets[name], total=plan.requests, concurrency=concurrency, label=name
            )
            after = cpu_snapshot(pids)
            used = {p: after[p] - before[p] for p in pids}
            used[MACHINE] = machine_busy_seconds() - machine
            runs[name].append(Round(stats, used))
    return runs


def cpu_ms_per_request(rounds: Sequence[Round]) -> float:
    """The median round's CPU milliseconds per request of the load generator and the services
    (not MongoDB's or RabbitMQ's, which neighbours use too): less noisy than throughput on a
    shared machine, and what throughput follows when the cores are the limit."""
    picked = median_round(rounds)
    ours = [v for p, v in picked.cpu.items() if p not in (MACHINE, *INFRA_COMMANDS.values())]
    return sum(ours) / picked.stats.requests * 1000


def paired_ratio(runs: Mapping[str, Sequence[Round]], target: str, baseline: str) -> float:
    """The median over rounds of `target`'s throughput over `baseline`'s in the same round.

    Within a round the two ran seconds apart, so a neighbour's burst, which moves whole
    rounds on a shared machine, mostly cancels out; the median-throughput rounds of two
    targets may come from different rounds."""
    pairs = zip(runs[target], runs[baseline], strict=True)
    return statistics.median(t.stats.rps / b.stats.rps for t, b in pairs)


def report_rounds(runs: Mapping[str, Sequence[Round]]) -> dict[str, Stats]:
    """Print the throughput and CPU tables of `interleaved`'s rounds; answer each target's
    median-throughput round."""
    picked = {name: median_round(rounds) for name, rounds in runs.items()}
    chosen = {name: r.stats for name, r in picked.items()}
    processes = list(next(iter(picked.values())).cpu)
    rows: list[list[object]] = []
    cpu_rows: list[list[object]] = []
    for name, rounds in runs.items():
        median = chosen[name]
        rows.append(
            [
                name,
                median.rps,
                max(r.stats.rps for r in rounds),
                median.ms(0.50),
                median.ms(0.99),
                sum(r.stats.errors for r in rounds),
            ]
        )
        per_request = [picked[name].cpu[p] / median.requests * 1000 for p in processes]
        cpu_rows.append([name, *per_request[:-1], sum(per_request[:-1]), per_request[-1]])
    print(table(["target", "req/s", "best req/s", "p50 ms", "p99 ms", "errors"], rows))
    report_errors([r.stats for rounds in runs.values() for r in rounds])
    print(
        "CPU milliseconds per request, by process (same rounds; 2 cores = 2,000 ms/s); "
        "the whole machine's beyond the total is a neighbour's:"
    )
    print(table(["target", *processes[:-1], "total", MACHINE], cpu_rows))
    return chosen


# --- reporting ----------------------------------------------------------------------------------


def command(script: str, argv: Sequence[str]) -> str:
    return "uv run python " + shlex.join([f"bench/{script}", *argv])


def banner(title: str, cmd: str) -> None:
    print()
    print(f"=== {title} ===")
    print(f"$ {cmd}")
    print(
        f"# {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table; numbers are right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(parts) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(list(headers)), rule, *(line(r) for r in cells)])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def verdict(what: str, ratio: float, target: float) -> str:
    outcome = "MET" if ratio >= target else "MISSED"
    return f"Target: {what} >= {target:.0%}: got {ratio:.1%} -> {outcome}"


def verdict_at_most(what: str, value: float, limit: float, unit: str) -> str:
    outcome = "MET" if value <= limit else "MISSED"
    return f"Target: {what} <= {limit:g} {unit}: got {value:.2f} {unit} -> {outcome}"


def report_errors(runs: Sequence[Stats]) -> None:
    for stats in runs:
        if stats.errors:
            print(
                f"! {stats.label} (concurrency {stats.concurrency}): {stats.errors} of "
                f"{stats.requests} requests failed; first: {stats.first_error}"
            )
