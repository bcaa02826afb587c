"""What the gateway costs: `GET /cars/{id}` through the gateway vs straight to the cars service.

Every service runs as its own process (devstack). A bare aiohttp hello-world server, also its
own process, shows the ceiling of one Python HTTP process on this machine. After a warm-up,
each target gets the same number of requests at the same concurrency, in rounds whose order
alternates; the round with the median throughput is reported per target.

Targets: the gateway keeps at least 85% of the direct throughput; the cars service's
`GET /cars/{id}` straight at it reaches at least 30% of the bare hello-world's throughput.

    uv run python bench/gateway_overhead.py [--requests 1500] [--rounds 3] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/gateway_overhead.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    BenchEnv,
    Round,
    RoundPlan,
    Server,
    banner,
    bench_env,
    client_session,
    command,
    get,
    hello_server,
    interleaved,
    median_round,
    person,
    report_rounds,
    running_system,
    system_pids,
    verdict,
)

from devstack.system import System

TARGET = 0.85  # gateway / direct
SERVICE_TARGET = 0.30  # cars direct / bare hello-world
HELLO, DIRECT, GATEWAY = "hello (bare aiohttp)", "cars direct", "gateway -> cars"


def parser() -> argparse.ArgumentParser:
    return RoundPlan.parser(__doc__, warmup=500, concurrency=32)


async def run(
    env: BenchEnv, system: System, hello: Server, args: argparse.Namespace
) -> dict[str, list[Round]]:
    pids = {**system_pids(system, ["gateway", "cars"]), "hello": hello.pid}
    async with client_session(args.concurrency) as session:
        client = (await person(env, system, session)).api
        car = await client.register_car()
        # The timed requests stay raw aiohttp (`get`): the typed client would copy every
        # answer's headers and validate its body, CPU the load generator would take from
        # the two cores it shares with the processes measured.
        targets = {
            HELLO: get(f"{hello.url}/"),
            DIRECT: get(f"{system.url('cars')}/cars/{car.id}", client.headers),
            GATEWAY: get(f"{system.gateway_url}/cars/{car.id}", client.headers),
        }
        return await interleaved(session, targets, pids, RoundPlan.of(args))


def report(runs: dict[str, list[Round]], args: argparse.Namespace) -> list[str]:
    """Print the tables and ratios; answer the targets' verdicts."""
    print(RoundPlan.of(args).describe("GET /cars/{id}"))
    chosen = report_rounds(runs)
    picked = {name: median_round(rounds) for name, rounds in runs.items()}
    direct, gateway, hello = chosen[DIRECT], chosen[GATEWAY], chosen[HELLO]
    ratio = gateway.rps / direct.rps
    best = max(r.stats.rps for r in runs[GATEWAY]) / max(r.stats.rps for r in runs[DIRECT])
    print(f"gateway / direct throughput: {ratio:.1%} (median rounds), {best:.1%} (best rounds)")
    print(
        f"gateway adds {gateway.ms(0.5) - direct.ms(0.5):.2f} ms at p50, "
        f"{gateway.ms(0.99) - direct.ms(0.99):.2f} ms at p99"
    )
    service_ratio = direct.rps / hello.rps
    cars_cpu = picked[DIRECT].cpu["cars"] / direct.requests * 1000
    print(
        f"cars direct / bare hello-world throughput: {service_ratio:.1%}; "
        f"cars uses {cars_cpu:.2f} ms of CPU per GET"
    )
    verdicts = [
        verdict("gateway throughput / direct throughput", ratio, TARGET),
        verdict("cars GET by id / bare hello-world throughput", service_ratio, SERVICE_TARGET),
    ]
    print("\n".join(verdicts))
    return verdicts


def measure(env: BenchEnv, system: System, args: argparse.Namespace, cmd: str) -> list[str]:
    banner("Gateway overhead: GET /cars/{id}", cmd)
    with hello_server(env) as hello:
        runs = asyncio.run(run(env, system, hello, args))
    return report(runs, args)


def main(argv: Sequence[str] | None = None) -> None:
    given = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(given)
    with bench_env() as env, running_system(env, args.log_level) as system:
        measure(env, system, args, command("gateway_overhead.py", given))


if __name__ == "__main__":
    main()
