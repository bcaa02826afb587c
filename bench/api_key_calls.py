"""What an API key costs at the gateway once its exchange is cached: `GET /cars/{id}` through
the gateway with an API key against the same with the person's JWT.

The gateway trades a key with identity (`POST /tokens/exchange`) for an access token, which
it remembers for a few seconds (`API_KEY_CACHE_SECONDS`, 5 by default) and forwards in the
key's place; so a steady stream of calls with one key pays one exchange every few seconds,
and between them a digest of the key and a dictionary lookup. Both ways of sending a key are
measured: `X-API-Key` and `Authorization: Bearer apk_...`. "JWT (A/A)" repeats the baseline,
to show how far two measurements of the same thing differ on this machine.

The person (registered, confirmed and logged in through the gateway) registers the car and
creates the key. After a warm-up, each target gets the same number of requests at the same
concurrency, in rounds whose order alternates; the median-throughput round is reported.

Target: calls with an API key reach at least 90% of the throughput with a JWT (the median of
the rounds' own ratios, as the rounds move together with the neighbours' load).

    uv run python bench/api_key_calls.py [--requests 1500] [--rounds 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/api_key_calls.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    BenchEnv,
    Request,
    Round,
    RoundPlan,
    banner,
    bench_env,
    client_session,
    command,
    cpu_ms_per_request,
    get,
    interleaved,
    paired_ratio,
    person,
    report_rounds,
    running_system,
    system_pids,
    verdict,
)

from devstack.system import System
from testkit.api import bearer

TARGET = 0.90  # API key / JWT
JWT, JWT_AA = "JWT", "JWT (A/A)"
X_API_KEY, BEARER_KEY = "API key (X-API-Key)", "API key (Bearer apk_)"


def parser() -> argparse.ArgumentParser:
    return RoundPlan.parser(__doc__, warmup=300, concurrency=16)


async def run(env: BenchEnv, system: System, args: argparse.Namespace) -> dict[str, list[Round]]:
    pids = system_pids(system, ["gateway", "cars", "identity"])
    async with client_session(args.concurrency) as session:
        someone = await person(env, system, session)
        car = await someone.api.register_car()
        issued = await someone.api.expect(201, "POST", "/apikeys", json={"description": "bench"})
        key = issued.json()["api_key"]
        url = f"{system.gateway_url}/cars/{car.id}"
        targets: dict[str, Request] = {
            JWT: get(url, someone.api.headers),
            X_API_KEY: get(url, {"X-API-Key": key}),
            BEARER_KEY: get(url, bearer(key)),
            JWT_AA: get(url, someone.api.headers),
        }
        return await interleaved(session, targets, pids, RoundPlan.of(args))


def report(runs: dict[str, list[Round]], args: argparse.Namespace) -> list[str]:
    print(RoundPlan.of(args).describe("GET /cars/{id} through the gateway"))
    chosen = report_rounds(runs)
    jwt = chosen[JWT].rps
    print("throughput / JWT, the median of the rounds' own ratios (median rounds'):")
    for name in (JWT_AA, X_API_KEY, BEARER_KEY):
        print(f"  {name}: {paired_ratio(runs, name, JWT):.1%} ({chosen[name].rps / jwt:.1%})")
    ratios = {name: paired_ratio(runs, name, JWT) for name in (X_API_KEY, BEARER_KEY)}
    cpu = {name: cpu_ms_per_request(rounds) for name, rounds in runs.items()}
    print(
        "CPU per request (load generator, gateway, cars, identity): "
        + ", ".join(f"{name} {ms:.2f} ms" for name, ms in cpu.items())
        + "; JWT / API key: "
        + ", ".join(f"{cpu[JWT] / cpu[name]:.1%}" for name in (X_API_KEY, BEARER_KEY))
        + " (the throughput ratios were the cores the only limit)"
    )
    # The lower of the two: either way of sending a key must meet the target.
    line = verdict("API key / JWT throughput", min(ratios.values()), TARGET)
    print(line)
    return [line]


def measure(env: BenchEnv, system: System, args: argparse.Namespace, cmd: str) -> list[str]:
    banner("API key calls: GET /cars/{id} with a key against a JWT", cmd)
    return report(asyncio.run(run(env, system, args)), args)


def main(argv: Sequence[str] | None = None) -> None:
    given = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(given)
    with bench_env() as env, running_system(env, args.log_level) as system:
        measure(env, system, args, command("api_key_calls.py", given))


if __name__ == "__main__":
    main()
