"""python -m devstack {run,infra,services}."""

from __future__ import annotations

import argparse
import sys

from devstack.paths import DevstackError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="MongoDB, RabbitMQ and every service until Ctrl-C")
    run.add_argument(
        "--only", metavar="NAME,...", help="start only these services (comma separated)"
    )
    commands.add_parser("infra", help="make sure MongoDB and RabbitMQ run, print their URLs")
    commands.add_parser("services", help="print the service table: name module port")
    args = parser.parse_args(argv)

    try:
        if args.command == "run":
            from devstack.run import run as run_stack

            run_stack(args.only.split(",") if args.only else None)
        elif args.command == "infra":
            from devstack.infra import ensure_infra

            infra = ensure_infra()
            print(f"MONGO_URL={infra.mongo_url}")
            print(f"AMQP_URL={infra.amqp_url}")
        else:
            from devstack.services import SERVICES

            for service in SERVICES:
                print(service.name, service.module, service.port)
    except DevstackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
