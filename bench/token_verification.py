"""What verifying an access token costs: the same public route through the gateway, called
anonymously and with a valid bearer token.

Route: `GET /sso/providers` (identity), public and cheap, so that the token is the only
difference. A valid token sent to a public route is verified by the gateway and again by
identity; each keeps the tokens it verified (until they expire, 60 s at most), as a client
sends the same token many times: "bearer token" is that steady state. "New token each
request" sends a token neither has seen (each a fresh one of identity's `POST
/tokens/exchange`, made before the rounds), so every request pays two RS256 verifications:
the worst case, shown but not judged. "anonymous (A/A)" repeats the baseline, to show how
far two measurements of the same thing differ on this machine.

The token comes from identity: a person registered, confirmed and logged in through the
gateway. After a warm-up, each target gets the same number of requests at the same
concurrency, in rounds whose order alternates; the median-throughput round is reported.

Target: authenticated calls reach at least 85% of the anonymous throughput (the median of
the rounds' own ratios, as the rounds move together with the neighbours' load).

    uv run python bench/token_verification.py [--requests 1500] [--rounds 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/token_verification.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
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
    drive,
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

TARGET = 0.85  # authenticated / anonymous
ROUTE = "/sso/providers"
ANONYMOUS, ANONYMOUS_AA = "anonymous", "anonymous (A/A)"
AUTHENTICATED, FRESH = "bearer token", "new token each request"


def parser() -> argparse.ArgumentParser:
    return RoundPlan.parser(__doc__, warmup=300, concurrency=16)


async def fresh_tokens(
    session: aiohttp.ClientSession, identity: str, api_key: str, n: int
) -> list[str]:
    """`n` distinct access tokens of one person, each from an exchange of their API key."""
    tokens: list[str] = []
    body = {"api_key": api_key}

    async def exchange(session: aiohttp.ClientSession, _: int) -> tuple[int, bytes]:
        async with session.post(f"{identity}/tokens/exchange", json=body) as response:
            if response.status == 200:
                tokens.append((await response.json())["access_token"])
            return response.status, await response.read()

    made = await drive(session, exchange, total=n, concurrency=8, label="exchange")
    if made.errors or len(set(tokens)) != n:
        raise RuntimeError(f"{len(set(tokens))} distinct tokens of {n}: {made.first_error}")
    return tokens


def each_new(url: str, tokens: Sequence[str]) -> Request:
    """Each call carries the next of `tokens`: never one sent before, whichever run it is in
    (`drive` numbers every run's requests from 0, so the index will not do)."""
    unsent = iter(tokens)

    async def request(session: aiohttp.ClientSession, _: int) -> tuple[int, bytes]:
        async with session.get(url, headers=bearer(next(unsent))) as response:
            return response.status, await response.read()

    return request


async def run(env: BenchEnv, system: System, args: argparse.Namespace) -> dict[str, list[Round]]:
    pids = system_pids(system, ["gateway", "identity"])
    url = f"{system.gateway_url}{ROUTE}"
    async with client_session(args.concurrency) as session:
        someone = await person(env, system, session)
        issued = await someone.api.expect(201, "POST", "/apikeys", json={"description": "bench"})
        tokens = await fresh_tokens(
            session,
            system.url("identity"),
            issued.json()["api_key"],
            args.warmup + args.rounds * args.requests,
        )
        targets: dict[str, Request] = {
            ANONYMOUS: get(url),
            AUTHENTICATED: get(url, someone.api.headers),
            FRESH: each_new(url, tokens),
            ANONYMOUS_AA: get(url),
        }
        return await interleaved(session, targets, pids, RoundPlan.of(args))


def report(runs: dict[str, list[Round]], args: argparse.Namespace) -> list[str]:
    print(RoundPlan.of(args).describe(f"GET {ROUTE} through the gateway"))
    chosen = report_rounds(runs)
    anonymous = chosen[ANONYMOUS].rps
    ratios = {
        name: paired_ratio(runs, name, ANONYMOUS) for name in (ANONYMOUS_AA, AUTHENTICATED, FRESH)
    }
    print("throughput / anonymous, the median of the rounds' own ratios (median rounds'):")
    for name, paired in ratios.items():
        print(f"  {name}: {paired:.1%} ({chosen[name].rps / anonymous:.1%})")
    print(f"A/A noise: {ratios[ANONYMOUS_AA]:.1%}; the new token each request is not judged")
    ratio = ratios[AUTHENTICATED]
    cpu = {name: cpu_ms_per_request(rounds) for name, rounds in runs.items()}
    print(
        "CPU per request (load generator, gateway, identity): "
        + ", ".join(f"{name} {ms:.2f} ms" for name, ms in cpu.items())
        + f"; anonymous / bearer token: {cpu[ANONYMOUS] / cpu[AUTHENTICATED]:.1%} "
        "(the throughput ratio were the cores the only limit)"
    )
    line = verdict("authenticated / anonymous throughput", ratio, TARGET)
    print(line)
    return [line]


def measure(env: BenchEnv, system: System, args: argparse.Namespace, cmd: str) -> list[str]:
    banner("Token verification at the gateway: GET /sso/providers", cmd)
    return report(asyncio.run(run(env, system, args)), args)


def main(argv: Sequence[str] | None = None) -> None:
    given = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(given)
    with bench_env() as env, running_system(env, args.log_level) as system:
        measure(env, system, args, command("token_verification.py", given))


if __name__ == "__main__":
    main()
