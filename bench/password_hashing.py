"""Password hashing stays off identity's event loop: `GET /users/me` during a storm of logins,
and logins per second against bare argon2.

Straight at identity (no gateway), so that identity's event loop is what is measured:

- probe: `GET /users/me` one at a time (`--probes` of them), with a logged-in person's token,
  alone ("quiet") and while `--storm` clients log in over and over ("storm"); the p99 of
  each, in the same round;
- logins: `--logins` `POST /credentials/auth` at concurrency `--storm`, nothing else
  running; each person logs in from one client at a time mostly (as many people as twice
  the clients), so that logins do not contend for one credential;
- bare argon2: as many passlib argon2 verifications, with identity's hash parameters
  (`PASSWORD_HASH__*`), on a pool of as many threads as identity hashes on
  (`PASSWORD_HASH_THREADS`, the CPU count by default), in this process while identity is
  idle.

A login is one argon2 verification plus two reads and a transaction (the refresh token, the
credential's counters, an audit record in the outbox, relayed to RabbitMQ and stored by
audits); with both cores hashing, everything else a login does is taken from the hashing.
Before each measurement the services' outboxes are drained, so none pays for the last.

Targets: the storm's p99 of `GET /users/me` is at most 2x the quiet p99; logins reach at
least 80% of bare argon2's verifications per second.

    uv run python bench/password_hashing.py [--logins 200] [--probes 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from unittest.mock import patch

if __package__ in (None, ""):  # run as `python bench/password_hashing.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from bench.common import (
    MACHINE,
    BenchEnv,
    Request,
    Stats,
    banner,
    bench_env,
    client_session,
    command,
    cpu_seconds,
    cpu_snapshot,
    drive,
    get,
    identity_people,
    machine_busy_seconds,
    report_errors,
    running_system,
    settle,
    system_pids,
    table,
    verdict,
    verdict_at_most,
)
from passlib.hash import argon2

from devstack.system import System
from identity.credentials.hashing import HashParameters
from identity.main import IdentitySettings
from testkit.identity import PASSWORD, Person

LOGIN_TARGET = 0.80  # logins/s / bare argon2 verifications/s
P99_LIMIT = 2.0  # storm p99 / quiet p99
# Whose outboxes must be empty before a measurement: identity's, and audits' which stores
# the logins' audit records.
BUSY = ["identity", "audits"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--logins", type=int, default=200, help="per round, and bare verifications")
    p.add_argument("--probes", type=int, default=500, help="GET /users/me per round, each way")
    p.add_argument("--storm", type=int, default=8, help="clients logging in at once")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--log-level", default="INFO", help="of the service processes")
    return p


def identity_settings(system: System) -> IdentitySettings:
    """Identity's settings as its process reads them: from the environment it is given."""
    with patch.dict(os.environ, system.env_for("identity"), clear=True):
        return IdentitySettings()


@dataclass(frozen=True)
class Bare:
    rate: float  # verifications per second
    cpu_ms: float  # CPU milliseconds per verification


def bare_argon2(parameters: HashParameters, threads: int, n: int) -> Bare:
    """passlib argon2 verifications on `threads` threads (this process does nothing else
    meanwhile, so its CPU time is theirs)."""
    hasher = argon2.using(
        memory_cost=parameters.memory_kib, rounds=parameters.passes, parallelism=parameters.lanes
    )
    hashed = hasher.hash(PASSWORD)
    with ThreadPoolExecutor(threads) as pool:
        started, cpu = time.perf_counter(), cpu_seconds()
        matched = list(pool.map(lambda _: hasher.verify(PASSWORD, hashed), range(n)))
        elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    assert all(matched)
    return Bare(n / elapsed, cpu / n * 1000)


def logins(identity: str, people: Sequence[Person]) -> Request:
    bodies = [json.dumps({"username": p.email, "password": PASSWORD}).encode() for p in people]
    headers = {"Content-Type": "application/json"}

    async def request(session: aiohttp.ClientSession, index: int) -> tuple[int, bytes]:
        body = bodies[index % len(bodies)]
        async with session.post(
            f"{identity}/credentials/auth", data=body, headers=headers
        ) as response:
            return response.status, await response.read()

    return request


async def during_storm(
    session: aiohttp.ClientSession, login: Request, probe: Request, args: argparse.Namespace
) -> tuple[Stats, Stats]:
    """The probe while `--storm` clients log in without pause; the logins made meanwhile."""
    stop = asyncio.Event()
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    counter = 0

    async def client() -> None:
        nonlocal errors, first_error, counter
        while not stop.is_set():
            counter += 1
            began = time.perf_counter()
            status, body = await login(session, counter)
            latencies.append(time.perf_counter() - began)
            if status != 200:
                errors += 1
                first_error = first_error or f"{status}: {body[:300].decode(errors='replace')}"

    clients = [asyncio.create_task(client()) for _ in range(args.storm)]
    await asyncio.sleep(0.5)  # every hashing thread busy, and a queue behind them
    started = time.perf_counter()
    probed = await drive(session, probe, total=args.probes, concurrency=1, label="storm")
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*clients)
    storm = Stats(
        "logins during the storm",
        args.storm,
        len(latencies),
        errors,
        elapsed,
        tuple(sorted(latencies)),
        first_error,
    )
    return probed, storm


@dataclass(frozen=True)
class RoundResult:
    quiet: Stats
    storm: Stats
    storm_logins: Stats
    logins: Stats
    bare: Bare
    cpu: dict[str, float]  # CPU seconds per process during the logins


async def run(
    env: BenchEnv, system: System, args: argparse.Namespace, settings: IdentitySettings
) -> list[RoundResult]:
    identity = system.url("identity")
    pids = system_pids(system, ["identity", "audits"])
    results: list[RoundResult] = []
    async with client_session(args.storm + 1) as session:
        async with identity_people(env, system, session) as people:
            crowd = await asyncio.gather(*(people.person() for _ in range(2 * args.storm)))
        login = logins(identity, crowd)
        probe = get(f"{identity}/users/me", crowd[0].api.headers)
        # Warm-up: connections, code paths, the verified-token cache.
        await drive(session, probe, total=100, concurrency=1, label="warm-up")
        await drive(session, login, total=2 * args.storm, concurrency=args.storm, label="warm-up")
        for round_no in range(args.rounds):
            await settle(env, BUSY)
            quiet = await drive(session, probe, total=args.probes, concurrency=1, label="quiet")
            await settle(env, BUSY)
            bare = await asyncio.to_thread(
                bare_argon2, settings.password_hash, settings.password_hash_threads, args.logins
            )
            await settle(env, BUSY)
            before, machine = cpu_snapshot(pids), machine_busy_seconds()
            timed = await drive(
                session,
                login,
                total=args.logins,
                concurrency=args.storm,
                label="logins",
                first_index=round_no * args.logins,
            )
            after = cpu_snapshot(pids)
            cpu = {p: after[p] - before[p] for p in pids}
            cpu[MACHINE] = machine_busy_seconds() - machine
            await settle(env, BUSY)
            storm, storm_logins = await during_storm(session, login, probe, args)
            results.append(RoundResult(quiet, storm, storm_logins, timed, bare, cpu))
    return results


def report(results: list[RoundResult], args: argparse.Namespace, threads: int) -> list[str]:
    print(
        f"{args.rounds} rounds; probe: {args.probes} GET /users/me one at a time; storm: "
        f"{args.storm} clients logging in; {args.logins} logins and bare verifications; "
        f"{threads} hashing threads"
    )
    rows: list[list[object]] = []
    for n, r in enumerate(results, 1):
        rows.append(
            [
                n,
                r.quiet.ms(0.50),
                r.quiet.ms(0.99),
                r.storm.ms(0.50),
                r.storm.ms(0.99),
                r.storm.ms(0.99) / r.quiet.ms(0.99),
                r.storm_logins.rps,
                r.logins.rps,
                r.bare.rate,
                r.logins.rps / r.bare.rate,
            ]
        )
    print(
        table(
            [
                "round",
                "quiet p50 ms",
                "quiet p99 ms",
                "storm p50 ms",
                "storm p99 ms",
                "p99 x",
                "storm logins/s",
                "logins/s",
                "bare argon2/s",
                "logins / bare",
            ],
            rows,
        )
    )
    report_errors([s for r in results for s in (r.quiet, r.storm, r.storm_logins, r.logins)])
    processes = list(results[0].cpu)
    cpu_rows = [
        [n, *(r.cpu[p] / r.logins.requests * 1000 for p in processes)]
        for n, r in enumerate(results, 1)
    ]
    print("CPU milliseconds per login, by process (the logins' runs; 2 cores = 2,000 ms/s):")
    print(table(["round", *processes], cpu_rows))
    bare_cpu = statistics.median(r.bare.cpu_ms for r in results)
    login_cpu = statistics.median(
        sum(v for p, v in r.cpu.items() if p != MACHINE) / r.logins.requests * 1000 for r in results
    )
    print(
        f"CPU per bare verification {bare_cpu:.2f} ms; per login {login_cpu:.2f} ms (identity, "
        f"audits, load generator, MongoDB and RabbitMQ: an upper bound, neighbours use the "
        f"last two too); their ratio {bare_cpu / login_cpu:.1%} is logins / bare were the "
        "cores the only limit"
    )
    slowdown = statistics.median(r.storm.ms(0.99) / r.quiet.ms(0.99) for r in results)
    ratio = statistics.median(r.logins.rps / r.bare.rate for r in results)
    verdicts = [
        verdict_at_most(
            "p99 of GET /users/me, storm / quiet (median round)", slowdown, P99_LIMIT, "x"
        ),
        verdict("logins/s / bare argon2 verifications/s (median round)", ratio, LOGIN_TARGET),
    ]
    print("\n".join(verdicts))
    return verdicts


def measure(env: BenchEnv, system: System, args: argparse.Namespace, cmd: str) -> list[str]:
    banner("Password hashing off the event loop: logins and GET /users/me", cmd)
    settings = identity_settings(system)
    results = asyncio.run(run(env, system, args, settings))
    return report(results, args, settings.password_hash_threads)


def main(argv: Sequence[str] | None = None) -> None:
    given = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(given)
    with bench_env() as env, running_system(env, args.log_level) as system:
        measure(env, system, args, command("password_hashing.py", given))


if __name__ == "__main__":
    main()
