"""Latency and throughput of `POST /bookings` through the gateway, at concurrency 1 and 16.

A booking crosses the gateway, the bookings service, a reserve command to the cars service
over RabbitMQ (request/reply) and two MongoDB transactions. Every request books its own car
and time slot, so each one succeeds with 201.

Baseline in the same run: `POST /cars` (register a car: one service, one transaction)
through the gateway at the same concurrency; those registrations are the cars then booked.
The ratio shows what the reserve round trip costs.

Targets, at concurrency 1: a booking's p50 latency at most 10 ms, and at most 8 ms of CPU
per booking summed over every process of the system (gateway, bookings, cars, MongoDB,
RabbitMQ; not the load generator). MongoDB and RabbitMQ serve the whole machine, so on a
shared machine that sum is an upper bound.

    uv run python bench/booking_latency.py [--requests-c1 150] [--requests-c16 600]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/booking_latency.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from bench.common import (
    LOAD_GENERATOR,
    MONGO_COMMANDS,
    BenchEnv,
    Request,
    Stats,
    banner,
    bench_env,
    client_session,
    command,
    cpu_snapshot,
    drive,
    mongo_commands,
    person,
    report_errors,
    running_system,
    settle,
    system_pids,
    table,
    verdict_at_most,
)
from pymongo import AsyncMongoClient

from devstack.system import System
from testkit.api import car_details

WARMUP = 48
SLOT = timedelta(hours=1)
SLOT_STRIDE = timedelta(hours=2)  # slots on one car never touch
P50_TARGET_MS = 10.0  # a booking at concurrency 1
CPU_TARGET_MS = 8.0  # per booking at concurrency 1, every process of the system


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--requests-c1", type=int, default=150, help="requests at concurrency 1")
    p.add_argument("--requests-c16", type=int, default=600, help="requests at concurrency 16")
    p.add_argument("--log-level", default="INFO", help="of the service processes")
    return p


# The timed requests are raw aiohttp, not testkit's typed client: it would copy every answer's
# headers and validate its body, CPU the load generator would take from the two cores it
# shares with the processes measured. The registrations are themselves measured (the baseline).


def register_request(gateway: str, headers: dict[str, str], plate: str, cars: list[str]) -> Request:
    async def request(session: aiohttp.ClientSession, index: int) -> tuple[int, bytes]:
        body = car_details(number_plate=f"{plate}-{index:06d}")
        async with session.post(f"{gateway}/cars", json=body, headers=headers) as response:
            raw = await response.read()
            if response.status == 201:
                cars.append(json.loads(raw)["id"])
            return response.status, raw

    return request


def booking_request(gateway: str, headers: dict[str, str], cars: list[str]) -> Request:
    """Request i books car i mod len(cars) in slot i div len(cars): never the same twice."""
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)

    async def request(session: aiohttp.ClientSession, index: int) -> tuple[int, bytes]:
        car, slot = cars[index % len(cars)], index // len(cars)
        start = base + slot * SLOT_STRIDE
        body = {
            "car_id": car,
            "start_utc": start.isoformat(),
            "end_utc": (start + SLOT).isoformat(),
        }
        async with session.post(f"{gateway}/bookings", json=body, headers=headers) as response:
            return response.status, await response.read()

    return request


# Each measurement, with the CPU seconds each process used and the MongoDB commands run.
Measured = tuple[Stats, dict[str, float], dict[str, int]]


async def run(
    env: BenchEnv, system: System, args: argparse.Namespace
) -> tuple[list[Measured], tuple[float, float]]:
    pids = system_pids(system, ["gateway", "bookings", "cars"])
    gateway = system.gateway_url
    cars: list[str] = []
    plan = [(1, args.requests_c1), (16, args.requests_c16)]
    results: list[Measured] = []
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(env.mongo_url)
    async with client_session(16) as session:
        headers = (await person(env, system, session)).api.headers
        register = register_request(gateway, headers, env.run_id[:6].upper(), cars)
        book = booking_request(gateway, headers, cars)

        async def series(request: Request, label: str) -> None:
            # Warm-up: connections, JWKS, caches, the reserve reply queue (not measured).
            await drive(
                session, request, total=WARMUP, concurrency=16, label="warm-up", expect=[201]
            )
            index = WARMUP
            for concurrency, total in plan:
                await settle(env, ["cars", "bookings"])
                before, commands_before = cpu_snapshot(pids), await mongo_commands(mongo)
                stats = await drive(
                    session,
                    request,
                    total=total,
                    concurrency=concurrency,
                    label=label,
                    expect=[201],
                    first_index=index,
                )
                after, commands_after = cpu_snapshot(pids), await mongo_commands(mongo)
                cpu = {p: after[p] - before[p] for p in pids}
                commands = {c: commands_after[c] - commands_before[c] for c in commands_after}
                results.append((stats, cpu, commands))
                index += total

        await series(register, "POST /cars")  # the cars that the bookings then take
        if not cars:
            failed = next((s for s, *_ in results if s.first_error), None)
            raise RuntimeError(f"no car registered: {failed.first_error if failed else '?'}")
        await series(book, "POST /bookings")
    try:
        return results, await mongo_floor(mongo, env.db_name("probe"))
    finally:
        await mongo.close()


async def mongo_floor(
    mongo: AsyncMongoClient[dict[str, Any]], database: str, n: int = 300
) -> tuple[float, float]:
    """Milliseconds of MongoDB alone, one at a time: a round trip (`find_one` by id) and a
    write that waits for the journal (`insert_one` with w=majority, as a commit does)."""
    probe = mongo[database]["probe"]
    await probe.insert_one({"_id": 0})
    started = time.perf_counter()
    for _ in range(n):
        await probe.find_one({"_id": 0})
    round_trip = (time.perf_counter() - started) / n * 1000
    started = time.perf_counter()
    for _ in range(n):
        await probe.insert_one({})
    journaled = (time.perf_counter() - started) / n * 1000
    await mongo.drop_database(database)
    return round_trip, journaled


def report(measured: list[Measured], floor: tuple[float, float]) -> list[str]:
    """Print the tables and ratios; answer the targets' verdicts."""
    results = [stats for stats, _, _ in measured]
    rows: list[list[object]] = [
        [s.label, s.concurrency, s.requests, s.rps, s.ms(0.5), s.ms(0.95), s.ms(0.99), s.errors]
        for s in results
    ]
    headers = ["request", "concurrency", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms"]
    print(table([*headers, "errors"], rows))
    report_errors(results)
    processes = list(measured[0][1])
    system = [p for p in processes if p != LOAD_GENERATOR]
    cpu_rows: list[list[object]] = []
    for stats, cpu, _ in measured:
        per_request = [cpu[p] / stats.requests * 1000 for p in processes]
        system_total = sum(cpu[p] for p in system) / stats.requests * 1000
        cpu_rows.append([stats.label, stats.concurrency, *per_request, system_total])
    print("CPU milliseconds per request, by process ('system': all but the load generator;")
    print("MongoDB and RabbitMQ serve the whole machine, so their figures are upper bounds):")
    print(table(["request", "concurrency", *processes, "system"], cpu_rows))
    print("MongoDB commands per request, as mongod counts them (every client's: upper bounds):")
    command_rows: list[list[object]] = []
    for stats, _, commands in measured:
        per_request = [commands[c] / stats.requests for c in MONGO_COMMANDS]
        command_rows.append([stats.label, stats.concurrency, *per_request, sum(per_request)])
    print(table(["request", "concurrency", *MONGO_COMMANDS, "total"], command_rows))
    round_trip, journaled = floor
    print(
        f"MongoDB alone, same run, one at a time: a round trip (find_one) {round_trip:.2f} ms, "
        f"a write waiting for the journal (insert, w=majority) {journaled:.2f} ms"
    )
    registers = {s.concurrency: s for s in results if s.label == "POST /cars"}
    for s in (s for s in results if s.label == "POST /bookings"):
        base = registers[s.concurrency]
        print(
            f"concurrency {s.concurrency}: bookings reach {s.rps / base.rps:.1%} of the "
            f"registration throughput; p50 {s.ms(0.5) / base.ms(0.5):.2f}x, "
            f"p99 {s.ms(0.99) / base.ms(0.99):.2f}x the registration latency"
        )
    stats, cpu = next(
        (s, c) for s, c, _ in measured if s.label == "POST /bookings" and s.concurrency == 1
    )
    cpu_ms = sum(cpu[p] for p in system) / stats.requests * 1000
    verdicts = [
        verdict_at_most("booking p50 at concurrency 1", stats.ms(0.5), P50_TARGET_MS, "ms"),
        verdict_at_most(
            "CPU per booking at concurrency 1, all processes", cpu_ms, CPU_TARGET_MS, "ms"
        ),
    ]
    print("\n".join(verdicts))
    return verdicts


def measure(env: BenchEnv, system: System, args: argparse.Namespace, cmd: str) -> list[str]:
    banner("Booking latency: POST /bookings through the gateway", cmd)
    return report(*asyncio.run(run(env, system, args)))


def main(argv: Sequence[str] | None = None) -> None:
    given = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(given)
    with bench_env() as env, running_system(env, args.log_level) as system:
        measure(env, system, args, command("booking_latency.py", given))


if __name__ == "__main__":
    main()
