"""The built-in probes against real servers on 127.0.0.1: an HTTP server that
answers JSON, a TCP port that is open and one that is closed, real programs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import structlog
from servers import free_port

from chaoskit import Expect, Observation, Params, Probe, ProbeContext
from chaoskit._resources import RunResources
from chaoskit.probes.command import CommandExpect, CommandParams, CommandProbe
from chaoskit.probes.http import HttpExpect, HttpParams, HttpProbe
from chaoskit.probes.tcp import TcpExpect, TcpParams, TcpProbe

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/status":
            self._send(200, {"status": "ok", "items": [{"id": 7}]})
        elif self.path == "/down":
            self._send(503, {"status": "down"})
        elif self.path == "/slow":
            threading.Event().wait(0.3)
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {})

    def _send(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def json_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def observe(
    probe: Probe, params: Params, expect: Expect, timeout: float = 2.0
) -> Observation:
    resources = RunResources()
    try:
        ctx = ProbeContext(
            probe_name="p",
            params=params,
            expect=expect,
            timeout=timeout,
            target=None,
            log=structlog.get_logger(),
            resources=resources,
        )
        return await probe.observe(ctx)
    finally:
        await resources.aclose()


async def test_http_status_and_json_path(json_server: str) -> None:
    params = HttpParams(url=f"{json_server}/status")
    good = HttpExpect.model_validate(
        {"status": 200, "json": [{"path": "$.items[0].id", "equals": 7}], "body_matches": "ok"}
    )
    result = await observe(HttpProbe(), params, good)
    assert result.ok, result.detail
    assert result.value == 200
    bad = HttpExpect.model_validate({"json": {"path": "$.status", "equals": "degraded"}})
    result = await observe(HttpProbe(), params, bad)
    assert not result.ok
    assert "$.status is 'ok', expected 'degraded'" in result.detail


async def test_http_error_status_fails_by_default(json_server: str) -> None:
    result = await observe(HttpProbe(), HttpParams(url=f"{json_server}/down"), HttpExpect())
    assert not result.ok
    assert result.detail == "status 503"


async def test_http_refused_connection_is_an_observation() -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    result = await observe(HttpProbe(), HttpParams(url=url), HttpExpect())
    assert not result.ok
    assert "ConnectError" in result.detail


async def test_http_timeout_is_an_observation(json_server: str) -> None:
    params = HttpParams(url=f"{json_server}/slow")
    result = await observe(HttpProbe(), params, HttpExpect(), timeout=0.1)
    assert not result.ok
    assert "Timeout" in result.detail


async def test_tcp_open_and_closed_ports(json_server: str) -> None:
    port = int(json_server.rsplit(":", 1)[1])
    assert (await observe(TcpProbe(), TcpParams(port=port), TcpExpect())).ok
    closed = TcpParams(port=free_port())
    refused = await observe(TcpProbe(), closed, TcpExpect())
    assert not refused.ok
    assert refused.value is False
    assert (await observe(TcpProbe(), closed, TcpExpect(connect=False))).ok
    assert refused.detail == "Connection refused"


async def test_tcp_by_name_takes_the_resolving_path(json_server: str) -> None:
    port = int(json_server.rsplit(":", 1)[1])
    assert (await observe(TcpProbe(), TcpParams(host="localhost", port=port), TcpExpect())).ok
    closed = await observe(TcpProbe(), TcpParams(host="localhost", port=free_port()), TcpExpect())
    assert not closed.ok
    assert closed.value is False


async def test_command_exit_code_and_output() -> None:
    params = CommandParams(shell="echo ready; exit 3")
    result = await observe(
        CommandProbe(), params, CommandExpect(exit_code=3, stdout_matches="^ready")
    )
    assert result.ok, result.detail
    result = await observe(CommandProbe(), params, CommandExpect())
    assert not result.ok
    assert result.detail == "exit code 3, expected 0"


async def test_command_that_cannot_start_is_an_observation() -> None:
    params = CommandParams(argv=["/nonexistent/program"])
    result = await observe(CommandProbe(), params, CommandExpect())
    assert not result.ok
    assert "cannot run" in result.detail


def test_command_needs_exactly_one_of_argv_or_shell() -> None:
    with pytest.raises(ValueError, match="exactly one of argv or shell"):
        CommandParams(argv=["true"], shell="true")
