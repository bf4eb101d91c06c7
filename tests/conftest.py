"""Fixtures shared by every test: real servers (see servers.py), a real Chromium
(see browser.py) and anyio's backend."""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from browser import ARGS, CHROMIUM
from servers import (
    HOST,
    ProxyHandle,
    ToxiproxyServer,
    create_proxy,
    delete_proxy,
    start_http_upstream,
    start_toxiproxy,
    stop_process,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

TOXIPROXY_BINARY = "toxiproxy-server"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def toxiproxy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyServer]:
    """A real toxiproxy-server on 127.0.0.1 for the whole session (``.url``, ``.port``)."""
    binary = shutil.which(TOXIPROXY_BINARY)
    if binary is None:
        message = f"{TOXIPROXY_BINARY} is not on PATH: run ./dev setup to install it"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a skip there would hide a broken set-up
        pytest.skip(message)
    log_path = tmp_path_factory.mktemp("toxiproxy") / "toxiproxy-server.log"
    server = start_toxiproxy(binary, log_path)
    try:
        yield server
    finally:
        stop_process(server.process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright  # imported by the tests that use it

    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: ./dev setup installs Debian's chromium"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a skip there would hide a broken set-up
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def http_upstream() -> Iterator[int]:
    """The port of a tiny HTTP server on 127.0.0.1: ``GET /health`` → 200 "ok",
    ``GET /bytes/N`` → N bytes."""
    with start_http_upstream() as upstream:
        yield upstream.port


@pytest.fixture
def make_proxy(
    toxiproxy_server: ToxiproxyServer, http_upstream: int
) -> Iterator[Callable[..., ProxyHandle]]:
    """Factory: ``make_proxy(upstream=None)`` creates an enabled proxy with a
    unique name in the session's Toxiproxy, to ``http_upstream`` unless told
    otherwise. Every proxy it made is deleted afterwards."""
    created: list[ProxyHandle] = []
    counter = itertools.count()

    def make(upstream: str | None = None) -> ProxyHandle:
        name = f"test-{uuid.uuid4().hex[:8]}-{next(counter)}"
        handle = create_proxy(toxiproxy_server.url, name, upstream or f"{HOST}:{http_upstream}")
        created.append(handle)
        return handle

    yield make
    for handle in created:
        delete_proxy(toxiproxy_server.url, handle.name)


@pytest.fixture
def proxy(make_proxy: Callable[..., ProxyHandle]) -> ProxyHandle:
    """One proxy to ``http_upstream``, deleted after the test."""
    return make_proxy()
