"""Recording ingestion: accepted `POST /record/use` calls per second through the gateway,
against `GET /health/usages` (the same service's own health) through the same gateway in the
same run.

Every service runs as its own process (devstack), usages delivering to an analytics simulator
of its own in the background, as it does in production. `GET /health/usages` goes through the
gateway to usages' own `/health`, which pings MongoDB and RabbitMQ: a read path through the
same processes, with no write. A recorded use
is a MongoDB transaction (the usage stored) answered 202, then delivered in batches.
After a warm-up, each target gets the same number of requests at the same concurrency, in
rounds whose order alternates; the round with the median throughput is reported.

    uv run python bench/recording_ingestion.py [--requests 1500] [--rounds 3] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/recording_ingestion.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from bench.common import (
    BenchEnv,
    Request,
    RoundPlan,
    Stats,
    banner,
    bench_env,
    client_session,
    command,
    drive,
    get,
    median_by_rps,
    person,
    report_errors,
    running_system,
    table,
)

from devstack.system import System

USE, HEALTH = "POST /record/use", "GET /health/usages"


def parser() -> argparse.ArgumentParser:
    return RoundPlan.parser(__doc__, warmup=300, concurrency=32)


def record_use(url: str, token: str) -> Request:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def request(session: aiohttp.ClientSession, index: int) -> tuple[int, bytes]:
        body = json.dumps({"event": "bench_clicked", "properties": {"n": index}})
        async with session.post(url, data=body, headers=headers) as response:
            return response.status, await response.read()

    return request


async def run(env: BenchEnv, system: System, args: argparse.Namespace) -> dict[str, list[Stats]]:
    gateway = system.gateway_url
    runs: dict[str, list[Stats]] = {USE: [], HEALTH: []}
    async with client_session(args.concurrency) as session:
        token = (await person(env, system, session)).access_token
        targets = {
            USE: (record_use(f"{gateway}/record/use", token), (202,)),
            HEALTH: (get(f"{gateway}/health/usages"), (200,)),
        }
        for name, (request, expect) in targets.items():
            await drive(
                session,
                request,
                total=args.warmup,
                concurrency=args.concurrency,
                label=name,
                expect=expect,
            )
        for round_no in range(args.rounds):
            order = list(targets) if round_no % 2 == 0 else list(reversed(targets))
            for name in order:
                request, expect = targets[name]
                runs[name].append(
                    await drive(
                        session,
                        request,
                        total=args.requests,
                        concurrency=args.concurrency,
                        label=name,
                        expect=expect,
                    )
                )
    return runs


def report(runs: dict[str, list[Stats]], args: argparse.Namespace) -> None:
    chosen = {name: median_by_rps(stats) for name, stats in runs.items()}
    rows: list[list[object]] = [
        [
            name,
            chosen[name].rps,
            max(s.rps for s in stats),
            chosen[name].ms(0.50),
            chosen[name].ms(0.99),
            sum(s.errors for s in stats),
        ]
        for name, stats in runs.items()
    ]
    print(
        RoundPlan.of(args).describe("POST /record/use and GET /health/usages through the gateway")
    )
    print(table(["target", "req/s", "best req/s", "p50 ms", "p99 ms", "errors"], rows))
    report_errors([s for stats in runs.values() for s in stats])
    use, health = chosen[USE], chosen[HEALTH]
    print(
        f"accepted /record/use: {use.rps:,.0f}/s; GET /health/usages: {health.rps:,.0f}/s; "
        f"record / health: {use.rps / health.rps:.1%}"
    )


def measure(env: BenchEnv, system: System, args: argparse.Namespace, cmd: str) -> None:
    banner("Recording ingestion: POST /record/use vs GET /health/usages, through the gateway", cmd)
    report(asyncio.run(run(env, system, args)), args)


def main(argv: Sequence[str] | None = None) -> None:
    given = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(given)
    with bench_env() as env, running_system(env, args.log_level) as system:
        measure(env, system, args, command("recording_ingestion.py", given))


if __name__ == "__main__":
    main()
