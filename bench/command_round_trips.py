"""Command round trips per second: the chassis' CommandBus against FastStream's request().

Why the chassis has its own reply queue: a booking waits for cars to answer a reserve
command, and many bookings are in flight at once. One server answers an echo command (the
chassis' on_command, in this process); the same N commands go at the same concurrency
through FastStream's `broker.request()` (direct reply-to; it takes a lock per call) and
through `CommandBus.send` (one reply queue, a future per correlation id), in alternating
rounds, the median round reported.

No target: the figures show the reason for the choice the README states.

    uv run python bench/command_round_trips.py [--commands 2000] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import ClassVar

if __package__ in (None, ""):  # run as `python bench/command_round_trips.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import BenchEnv, banner, bench_env, command, table
from faststream.rabbit import RabbitBroker
from pydantic import BaseModel

from chassis.config import ServiceSettings
from chassis.messaging.broker import create_broker
from chassis.messaging.commands import CommandBus
from contracts import Command
from testkit.node import Node


class Echoed(BaseModel):
    n: int


class Echo(Command[Echoed]):
    queue: ClassVar[str] = "bench.echo"

    n: int


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--commands", type=int, default=2000, help="per client per round")
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--rounds", type=int, default=3)
    return p


def settings(env: BenchEnv, name: str) -> ServiceSettings:
    return ServiceSettings(
        service_name=name,
        mongo_url=env.mongo_url,
        mongo_db=env.db_name(name),
        amqp_url=env.amqp_url,
        prefetch_count=64,
    )


Send = Callable[[int], Awaitable[int]]


def through_faststream(broker: RabbitBroker) -> Send:
    async def send(n: int) -> int:
        reply = await broker.request(Echo(n=n).model_dump_json().encode(), Echo.queue, timeout=10)
        return Echoed.model_validate_json(reply.body).n

    return send


def through_the_bus(bus: CommandBus) -> Send:
    async def send(n: int) -> int:
        return (await bus.send(Echo(n=n), 10)).n

    return send


async def drive(send: Send, total: int, concurrency: int) -> float:
    """Round trips per second; every reply must be the one its command asked for."""
    numbers = iter(range(total))

    async def worker() -> None:
        for n in numbers:
            if await send(n) != n:
                raise RuntimeError(f"command {n} got another command's reply")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


async def run(env: BenchEnv, args: argparse.Namespace) -> dict[str, list[float]]:
    async with AsyncExitStack() as stack:
        server = Node(settings(env, "echo_server"))

        async def echo(command: Echo) -> Echoed:
            return Echoed(n=command.n)

        server.subscriptions.on_command(Echo, echo)
        await server.start()
        stack.push_async_callback(server.stop)

        client_settings = settings(env, "echo_client")
        broker = create_broker(client_settings)
        await broker.start()
        stack.push_async_callback(broker.stop)
        bus = CommandBus(broker, client_settings.service_name)
        await bus.start()

        clients = {
            "FastStream broker.request()": through_faststream(broker),
            "chassis CommandBus.send [chassis]": through_the_bus(bus),
        }
        for send in clients.values():  # warm-up: connections, queues, code paths
            await drive(send, 200, args.concurrency)
        rates: dict[str, list[float]] = {name: [] for name in clients}
        for round_no in range(args.rounds):
            order = list(clients) if round_no % 2 == 0 else list(reversed(clients))
            for name in order:
                rates[name].append(await drive(clients[name], args.commands, args.concurrency))
        return rates


def report(rates: dict[str, list[float]], args: argparse.Namespace) -> None:
    medians = {name: sorted(r)[len(r) // 2] for name, r in rates.items()}
    rows: list[list[object]] = [
        [name, args.concurrency, args.commands, medians[name], max(rates[name])] for name in rates
    ]
    print(table(["client", "concurrency", "commands", "round trips/s", "best"], rows))
    faststream, bus = medians.values()
    print(f"CommandBus / broker.request(): {bus / faststream:.1f}x the round trips per second")


def measure(env: BenchEnv, args: argparse.Namespace, cmd: str) -> None:
    banner("Command round trips: CommandBus vs FastStream request()", cmd)
    report(asyncio.run(run(env, args)), args)


def main(argv: Sequence[str] | None = None) -> None:
    given = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(given)
    with bench_env() as env:
        measure(env, args, command("command_round_trips.py", given))


if __name__ == "__main__":
    main()
