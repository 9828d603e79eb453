"""The baseline for `list_throughput.py`: a bare aiohttp server with fixed bytes.

It answers `POST /v2/panel/gateways/email/list` (and GET /health, for the readiness
wait) with the exact body the real service gave, so the difference between the two
is what the service itself costs: parameter reading, the session lookup, the
permission check, the SQL and the JSON, but not aiohttp's own HTTP handling.

    python benchmarks/bare_server.py PORT BODY_FILE

Like the service it runs on uvloop when installed (the same loop `navixy-panel
serve` uses); unlike it, it writes no access log at all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aiohttp import web

from navixy_panel.cli import new_event_loop

LIST_PATH = "/v2/panel/gateways/email/list"


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
