"""A small real HTTP service that stores writes in memory, for the load and
audit tests: POST /transfers {id} → 201; GET /transfers/{id} → 200 or 404;
GET /health; GET /stats. With ``--drop-every N`` it acknowledges every Nth
write without storing it — a known ground truth for the data-loss audit.

    python tests/write_service.py --port P [--drop-every N] [--delay-ms D]
"""

from __future__ import annotations

import argparse
import asyncio
import json

from aiohttp import web


def build_app(drop_every: int, delay_ms: int) -> web.Application:
    stored: set[str] = set()
    stats = {"acknowledged": 0, "dropped": 0}

    async def post_transfer(request: web.Request) -> web.Response:
        body = await request.json()
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        stats["acknowledged"] += 1
        if drop_every and stats["acknowledged"] % drop_every == 0:
            stats["dropped"] += 1
        else:
            stored.add(str(body["id"]))
        return web.json_response({"id": body["id"]}, status=201)

    async def get_transfer(request: web.Request) -> web.Response:
        found = request.match_info["id"] in stored
        return web.json_response({"found": found}, status=200 if found else 404)

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def get_stats(_: web.Request) -> web.Response:
        return web.Response(text=json.dumps({**stats, "stored": len(stored)}))

    app = web.Application()
    app.router.add_post("/transfers", post_transfer)
    app.router.add_get("/transfers/{id}", get_transfer)
    app.router.add_get("/health", health)
    app.router.add_get("/stats", get_stats)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--drop-every", type=int, default=0)
    parser.add_argument("--delay-ms", type=int, default=0)
    args = parser.parse_args()
    web.run_app(
        build_app(args.drop_every, args.delay_ms),
        host="127.0.0.1",
        port=args.port,
        print=None,
        access_log=None,
    )


if __name__ == "__main__":
    main()
