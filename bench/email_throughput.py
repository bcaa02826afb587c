"""Emails per second from the event that asks for them to the SMTP server, against aiosmtplib
sending the same messages straight to the same server.

The SMTP server is the mailbox simulator (aiosmtpd, every message written as a `.eml` file)
as its own process; an email counts as arrived once its file exists. Both sides use the same
number of SMTP connections (the service's pool size, `--pool`).

Service: the emails service as its own process (as `make run` starts it) on this run's MongoDB
and RabbitMQ; this process publishes the requests and watches the mailbox.
N `EmailRequested` events (password resets, each to its own address) are published as a
relay publishes them, persistent and confirmed, at most `--in-flight` unconfirmed; the clock
runs from the first publish until the N-th message is in the mailbox. On the way each email
is stored (inbox transaction, a batch at a time), handed from memory to a sender, sent over a
pooled connection and recorded delivered with its audit record (a batch of outcomes per
transaction).

Baseline, same run: the same N messages, rendered from the same template beforehand, sent
with aiosmtplib over `--pool` connections, each sending one after another; timed from the
first send until the N-th message is in the mailbox.

Target: the service reaches at least 70% of the baseline's emails per second.

    uv run python bench/email_throughput.py [--emails 1000] [--rounds 3] [--pool 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/email_throughput.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiosmtplib
from bench.common import BenchEnv, banner, bench_env, command, running_services, table, verdict

from chassis.config import MessagingSettings
from chassis.messaging.broker import create_broker
from contracts.emails import EmailRequested, PasswordReset
from devstack.system import free_ports
from emails.domain import Content, Email
from emails.gateway import Outgoing, mime
from emails.rendering import Templates
from testkit.fixtures import EventProducer

TARGET = 0.70
WAIT_LIMIT = 300.0  # seconds; a round that takes longer has failed
TOKEN = "bench-token-0123456789abcdef"
SENDER = "Platform <no-reply@example.com>"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--emails", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3, choices=range(1, 10), help="median of")
    p.add_argument("--pool", type=int, default=4, help="SMTP connections, on both sides")
    p.add_argument("--in-flight", type=int, default=200, help="unconfirmed publishes at most")
    return p


class MailboxProcess:
    """The mailbox simulator as its own process, writing into `directory`."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        directory.mkdir(parents=True, exist_ok=True)

    def count(self) -> int:
        # Polled every 10 ms in the process that runs the service: os.listdir costs a third of
        # what Path.glob does over the thousands of files of a run.
        return sum(1 for name in os.listdir(self.directory) if name.endswith(".eml"))


@contextmanager
def mailbox_process(env: BenchEnv) -> Iterator[MailboxProcess]:
    port = free_ports(["smtp"])["smtp"]
    box = MailboxProcess(env.workdir / "mail", port)
    args = ["--dir", str(box.directory), "--port", str(port)]
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators.mailbox", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline().decode()
        if "SMTP on" not in ready:
            raise RuntimeError(f"the mailbox did not start: {ready}")
        yield box
    finally:
        process.terminate()
        process.wait(timeout=10)


async def arrived(box: MailboxProcess, before: int, n: int, started: float) -> float:
    """Seconds from `started` until `n` more messages than `before` are in the mailbox."""
    while box.count() < before + n:
        if time.perf_counter() - started > WAIT_LIMIT:
            raise RuntimeError(f"only {box.count() - before} of {n} emails arrived")
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


def address(n: int) -> str:
    return f"person-{n}@example.com"


async def baseline(box: MailboxProcess, args: argparse.Namespace) -> float:
    """aiosmtplib straight to the server: emails per second."""
    templates = Templates("http://localhost:8080")
    content: Content = templates.render(PasswordReset(first_name="Ada", token=TOKEN))
    messages = [
        mime(
            Outgoing.of(
                Email.request(
                    uuid.uuid4().hex,
                    None,
                    address(n),
                    None,
                    "password_reset",
                    (),
                    content,
                    datetime.now(UTC),
                ),
                SENDER,
            ),
            "bench.example.com",
        )
        for n in range(args.emails)
    ]
    before = box.count()
    connections = [aiosmtplib.SMTP(hostname="127.0.0.1", port=box.port) for _ in range(args.pool)]
    for smtp in connections:
        await smtp.connect()
    started = time.perf_counter()

    async def send_share(smtp: aiosmtplib.SMTP, share: Sequence[Message]) -> None:
        for message in share:
            await smtp.send_message(message)

    await asyncio.gather(
        *(send_share(smtp, messages[i :: args.pool]) for i, smtp in enumerate(connections))
    )
    elapsed = await arrived(box, before, args.emails, started)
    for smtp in connections:
        await smtp.quit()
    return args.emails / elapsed


async def service(env: BenchEnv, box: MailboxProcess, args: argparse.Namespace) -> list[float]:
    """The emails service from published event to the server: emails per second, per round."""
    emails_env = {
        "SMTP_PORT": str(box.port),
        "SMTP_POOL_SIZE": str(args.pool),
        "LOG_LEVEL": "WARNING",
    }
    producing = MessagingSettings(service_name="bench_identity", amqp_url=env.amqp_url)
    broker = create_broker(producing)
    await broker.connect()
    producer = EventProducer(broker, producing)
    limit = asyncio.Semaphore(args.in_flight)

    async def publish(n: int) -> None:
        async with limit:
            message = PasswordReset(first_name="Ada", token=TOKEN)
            await producer.publish(EmailRequested(to=address(n), message=message), tenant_id=None)

    rates = []
    try:
        with running_services(env, {"emails": emails_env}, ["emails"], log_level="WARNING"):
            for _ in range(args.rounds):
                before = box.count()
                started = time.perf_counter()
                await asyncio.gather(*(publish(n) for n in range(args.emails)))
                rates.append(args.emails / await arrived(box, before, args.emails, started))
    finally:
        await broker.stop()
    return rates


async def run(env: BenchEnv, args: argparse.Namespace) -> tuple[list[float], list[float]]:
    with mailbox_process(env) as box:
        direct = [await baseline(box, args) for _ in range(args.rounds)]
        through = await service(env, box, args)
    return direct, through


def measure(env: BenchEnv, args: argparse.Namespace, cmd: str) -> list[str]:
    banner("Email throughput: event -> emails service -> SMTP server", cmd)
    direct, through = asyncio.run(run(env, args))
    base, ours = statistics.median(direct), statistics.median(through)
    print(
        table(
            ["path", "emails", "rounds", "emails/s (median)", "all rounds"],
            [
                ["aiosmtplib straight", args.emails, args.rounds, f"{base:.0f}", _all(direct)],
                ["emails service", args.emails, args.rounds, f"{ours:.0f}", _all(through)],
            ],
        )
    )
    ratio = ours / base
    print(f"ratio: {ratio:.0%} of aiosmtplib straight, over {args.pool} SMTP connections each")
    line = verdict("email throughput (service / aiosmtplib)", ratio, TARGET)
    print(line)
    return [line]


def _all(rates: Sequence[float]) -> str:
    return ", ".join(f"{r:.0f}" for r in rates)


def main(argv: Sequence[str] | None = None) -> None:
    given = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(given)
    with bench_env() as env:
        measure(env, args, command("email_throughput.py", given))


if __name__ == "__main__":
    main()
