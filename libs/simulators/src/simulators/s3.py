"""A local S3 API server: moto's, in memory, for the tests (and wherever MinIO is not run).

It answers the S3 API path-style (`http://H:P/<bucket>/<key>`) for any bucket, whatever the
host name it is reached by, with any credentials; buckets and objects live as long as the
process. Objects past about 5 MB are spooled to temporary files, not held in memory; moto
does join a multipart upload's parts in memory while it completes it, so completing an
object of N bytes briefly takes about twice N.

    python -m simulators.s3 --host 127.0.0.1 --port 9000

With `--amqp-url` it also acts as a MinIO server with one AMQP notification target
(`simulators.s3_events`): a bucket whose notification configuration names the target's ARN
(`arn:minio:sqs::<--amqp-target-id>:amqp`) has its object-created events published to
RabbitMQ in MinIO's format.

    python -m simulators.s3 --amqp-url amqp://guest:guest@127.0.0.1:5672/ \
        --amqp-exchange blob_events --amqp-routing-key blobs.object_created
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

DEFAULT_PORT = 9000

# moto reads its settings when imported: bucket names are never taken from the host name (a
# compose service called `s3.local` would otherwise be read as bucket `s3`).
os.environ.setdefault("S3_IGNORE_SUBDOMAIN_BUCKETNAME", "true")

from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

from simulators.s3_events import AmqpTarget, notifying  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    # One MinIO AMQP target (MINIO_NOTIFY_AMQP_*_<ID>); the exchange is durable and the
    # messages persistent (MinIO's DURABLE=on, DELIVERY_MODE=2).
    parser.add_argument("--amqp-url", help="publish bucket notifications to this broker")
    parser.add_argument("--amqp-exchange", default="")
    parser.add_argument("--amqp-exchange-type", default="topic")
    parser.add_argument("--amqp-routing-key", default="")
    parser.add_argument("--amqp-target-id", default="PRIMARY")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(message)s", level=logging.INFO)
    target = (
        AmqpTarget(
            args.amqp_url,
            args.amqp_exchange,
            args.amqp_exchange_type,
            args.amqp_routing_key,
            args.amqp_target_id,
        )
        if args.amqp_url
        else None
    )
    app: Any = DomainDispatcherApplication(create_backend_app)
    publisher = None
    if target is not None:
        app, publisher = notifying(app, target)
    # werkzeug logs every request: thousands for one large upload.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # pika logs every step of every connection.
    logging.getLogger("pika").setLevel(logging.WARNING)
    server = make_server(
        args.host,
        args.port,
        app,
        threaded=True,
        request_handler=MotoRequestHandler,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return: not from the thread running it.
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"s3: S3 API on http://{args.host}:{server.port}", flush=True)
    if target is not None:
        print(f"s3: notifications of {target.arn} to {target.where}", flush=True)
    server.serve_forever()
    server.server_close()
    if publisher is not None:
        publisher.stop()


if __name__ == "__main__":
    main()
