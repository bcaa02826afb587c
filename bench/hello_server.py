"""A bare aiohttp hello-world server, the reference ceiling for one Python HTTP process here.

Started by bench/gateway_overhead.py as its own process: `python bench/hello_server.py PORT`.
"""

from __future__ import annotations

import sys

from aiohttp import web


async def hello(_: web.Request) -> web.Response:
    return web.Response(text="Hello, world")


def main() -> None:
    port = int(sys.argv[1])
    app = web.Application()
    app.add_routes([web.get("/", hello)])
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
