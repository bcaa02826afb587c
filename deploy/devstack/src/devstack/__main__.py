"""python -m devstack {run,infra,services,token,generate,compose}."""

from __future__ import annotations

import argparse
import subprocess
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
    token = commands.add_parser(
        "token",
        help="log in through the gateway of `make run` and print an access token "
        "(registering and confirming the person first if need be)",
    )
    token.add_argument("--email", help="default: the development operator, who may do anything")
    token.add_argument("--password", help="default: the development password")
    token.add_argument("--gateway", help="default: the gateway of `make run`")
    commands.add_parser(
        "generate", help="write docker-compose.yml, deploy/docker/offline.yml and deploy/k8s/"
    )
    compose = commands.add_parser(
        "compose",
        help="docker-compose with the files this machine needs: official or local base images",
    )
    compose.add_argument("args", nargs=argparse.REMAINDER, help="docker-compose's arguments")
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
        elif args.command == "token":
            from devstack import login

            print(
                login.access_token(
                    args.gateway or login.gateway_url(),
                    args.email or login.DEV_OPERATOR_EMAIL,
                    args.password or login.DEV_PASSWORD,
                    login.mail_dir(),
                )
            )
        elif args.command == "generate":
            from devstack.generate import write
            from devstack.paths import repo_root

            changed = write(repo_root())
            print("\n".join(f"wrote {path}" for path in changed) or "generated files are current")
        elif args.command == "compose":
            from devstack import containers
            from devstack.paths import repo_root

            root = repo_root()
            offline, files = containers.compose_files(root)
            which = (
                f"local images ({files[-1].relative_to(root)})" if offline else "official images"
            )
            print(f"devstack: docker-compose with {which}", file=sys.stderr)
            containers.ComposeProject(root, files).exec(*args.args)
        else:
            from devstack.services import SERVICES

            for service in SERVICES:
                print(service.name, service.module, service.port)
    except (DevstackError, subprocess.CalledProcessError) as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
