"""A local S3 API server: moto's, in memory, for the tests (and wherever MinIO is not run).

It answers the S3 API path-style (`http://H:P/<bucket>/<key>`) for any bucket, whatever the
host name it is reached by, with any credentials; buckets and objects live as long as the
process. Objects past about 5 MB are spooled to temporary files, not held in memory; moto
does join a multipart upload's parts in memory while it completes it, so completing an
object of N bytes briefly takes about twice N.

    python -m simulators.s3 --host 127.0.0.1 --port 8193
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from types import FrameType

DEFAULT_PORT = 8193

# moto reads its settings when imported: bucket names are never taken from the host name (a
# compose service called `s3.local` would otherwise be read as bucket `s3`).
os.environ.setdefault("S3_IGNORE_SUBDOMAIN_BUCKETNAME", "true")

from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(message)s", level=logging.INFO)
    # werkzeug logs every request: thousands for one large upload.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(
        args.host,
        args.port,
        DomainDispatcherApplication(create_backend_app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return: not from the thread running it.
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"s3: S3 API on http://{args.host}:{server.port}", flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
