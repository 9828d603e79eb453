"""Baseline B0 of `platform_bench.py`: bare aiohttp answering fixed bytes.

    python benchmarks/b0_server.py PORT BODY_FILE

It answers `POST /v2/panel/gateways/email/list` (whatever the headers) with the bytes of
BODY_FILE, a real list answer of typical size, and `GET /health` for the readiness wait.
What it measures is aiohttp's own HTTP cost on this host: the ceiling for any aiohttp
service. Like `navixy-panel serve` it runs on uvloop and, unlike it, writes no access log.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from aiohttp import web

LIST_PATH = "/v2/panel/gateways/email/list"


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def make_app(body: bytes) -> web.Application:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async def health(request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ok"}', content_type="application/json")

    app = web.Application()
    app.router.add_post(LIST_PATH, answer)
    app.router.add_get("/health", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("body_file", type=Path)
    args = parser.parse_args()
    web.run_app(make_app(args.body_file.read_bytes()), host="127.0.0.1", port=args.port,
                access_log=None, print=None, loop=new_event_loop())


if __name__ == "__main__":
    main()
