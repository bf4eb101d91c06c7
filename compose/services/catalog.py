"""catalog — the lab's neighbour service: what database trouble should NOT reach.

    GET /health        200 {"status": "ok"} (its own health; it never asks ledger)
    GET /items/{id}    200 the item (ids 1..ITEMS, served from memory) or 404;
                       with CATALOG_COUPLED=1, each call first asks ledger's /health
                       (through CATALOG_LEDGER_URL, in the lab a Toxiproxy proxy) and answers
                       502 when that fails — no circuit breaker, a long timeout: a
                       containment breach on purpose

Every knob is an environment variable; ``KNOBS`` lists them with their defaults. Runs the same
as a local process and in a container; logs JSON lines to stdout.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

SERVICE = "catalog"
ITEMS = 100

#: name -> (default, meaning). The lab's knob table (chaoskit/lab/knobs.py) mirrors this.
KNOBS: dict[str, tuple[str, str]] = {
    "CATALOG_HOST": ("127.0.0.1", "address to listen on"),
    "CATALOG_PORT": ("18101", "port to listen on"),
    "CATALOG_LEDGER_URL": (
        "http://127.0.0.1:18190",
        "ledger's base URL (in the lab: the catalog_ledger Toxiproxy proxy)",
    ),
    "CATALOG_COUPLED": ("0", "1: every /items call first calls ledger's /health; 0: never"),
    "CATALOG_LEDGER_TIMEOUT": ("30", "seconds a coupled call waits for ledger"),
}


def log(event: str, **fields: Any) -> None:
    """One JSON line on stdout."""
    record = {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "service": SERVICE,
        "event": event,
        **fields,
    }
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


class _JsonLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        log("library", logger=record.name, level=record.levelname, message=record.getMessage())


class ConfigError(ValueError):
    """A knob has a value the service cannot use."""


@dataclass(frozen=True)
class Config:
    host: str
    port: int
    ledger_url: str
    coupled: bool
    ledger_timeout: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        def raw(name: str) -> str:
            value = env.get(name, "").strip()
            return value or KNOBS[name][0]

        coupled = raw("CATALOG_COUPLED")
        if coupled not in ("0", "1"):
            raise ConfigError(f"CATALOG_COUPLED={coupled!r}: expected 0 or 1")
        try:
            port = int(raw("CATALOG_PORT"))
            timeout = float(raw("CATALOG_LEDGER_TIMEOUT"))
        except ValueError as exc:
            raise ConfigError(f"expected a number: {exc}") from None
        if timeout <= 0:
            raise ConfigError("CATALOG_LEDGER_TIMEOUT must be positive")
        return cls(
            host=raw("CATALOG_HOST"),
            port=port,
            ledger_url=raw("CATALOG_LEDGER_URL").rstrip("/"),
            coupled=coupled == "1",
            ledger_timeout=timeout,
        )


class Catalog:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.items = {
            i: {"id": i, "name": f"item-{i}", "price_cents": 100 + 7 * i}
            for i in range(1, ITEMS + 1)
        }
        self.session: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self.health)
        app.router.add_get("/items/{id}", self.get_item)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        return app

    async def _open(self, app: web.Application) -> None:
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.ledger_timeout)
        )

    async def _close(self, app: web.Application) -> None:
        if self.session is not None:
            await self.session.close()

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "coupled": self.config.coupled})

    async def get_item(self, request: web.Request) -> web.Response:
        if self.config.coupled:
            failure = await self._ask_ledger()
            if failure is not None:
                log("ledger_call_failed", detail=failure)
                return web.json_response(
                    {"error": "ledger_unavailable", "detail": failure}, status=502
                )
        raw_id = request.match_info["id"]
        item = self.items.get(int(raw_id)) if raw_id.isdigit() else None
        if item is None:
            return web.json_response({"error": "not_found", "id": raw_id}, status=404)
        return web.json_response(item)

    async def _ask_ledger(self) -> str | None:
        """Call ledger's /health synchronously, on purpose without a circuit breaker: what
        went wrong, or None when it answered 200."""
        assert self.session is not None
        try:
            async with self.session.get(f"{self.config.ledger_url}/health") as response:
                await response.read()
                if response.status != 200:
                    return f"ledger /health answered {response.status}"
                return None
        except (TimeoutError, aiohttp.ClientError) as exc:
            return f"{type(exc).__name__}: {exc}"


async def main() -> int:
    logging.basicConfig(level=logging.WARNING, handlers=[_JsonLogHandler()])
    try:
        config = Config.from_env(os.environ)
    except ConfigError as exc:
        log("bad_knob", error=str(exc))
        return 2
    log("starting", pid=os.getpid(), **config.__dict__)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(Catalog(config).app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
        await site.start()
    except OSError as exc:
        log("cannot_listen", detail=str(exc))
        await runner.cleanup()
        return 1
    log("listening", host=config.host, port=config.port)
    await stop.wait()
    log("stopping")
    await runner.cleanup()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
