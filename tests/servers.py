"""Real servers for tests: the ``toxiproxy-server`` binary and a tiny HTTP upstream.

Everything listens on 127.0.0.1 only. Ports we choose ourselves come from
20000-32000, below the ephemeral range (32768-61000) where the kernel picks
ports for outgoing connections, as Toxiproxy's README advises. Every wait is
bounded in time and attempts; everything started here is stopped by its owner.
"""

from __future__ import annotations

import contextlib
import random
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

__all__ = [
    "HOST",
    "PORT_RANGE",
    "HttpUpstream",
    "ProxyHandle",
    "ToxiproxyServer",
    "create_proxy",
    "delete_proxy",
    "free_port",
    "start_http_upstream",
    "start_toxiproxy",
    "stop_process",
]

HOST = "127.0.0.1"
PORT_RANGE = (20000, 32000)
_rng = random.Random()


def free_port(attempts: int = 200) -> int:
    """A TCP port in 20000-32000 that nothing on 127.0.0.1 holds right now.

    Random rather than sequential, so that concurrent test processes rarely
    pick the same one; a port can still be taken between this check and its
    use, so callers that bind it retry on "address in use".
    """
    low, high = PORT_RANGE
    for _ in range(attempts):
        port = _rng.randint(low, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{high} on {HOST} after {attempts} tries")


# --- Toxiproxy ----------------------------------------------------------------


@dataclass
class ToxiproxyServer:
    """A running ``toxiproxy-server`` process."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    host: str = HOST

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def stop_process(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Terminate, then kill if it does not exit within ``grace`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


def _answers_version(url: str) -> bool:
    try:
        response = httpx.get(f"{url}/version", timeout=0.5, trust_env=False)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def start_toxiproxy(
    binary: str, log_path: Path, *, startup_timeout: float = 10.0, attempts: int = 3
) -> ToxiproxyServer:
    """Start ``binary -host 127.0.0.1 -port N`` on a free port and wait until
    ``GET /version`` answers. Retries on another port if the process dies
    (typically: the port was taken meanwhile)."""
    failures: list[str] = []
    for _ in range(attempts):
        port = free_port()
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [binary, "-host", HOST, "-port", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = ToxiproxyServer(process=process, port=port, log_path=log_path)
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline and process.poll() is None:
            if _answers_version(server.url):
                return server
            time.sleep(0.05)
        stop_process(process)
        failures.append(f"port {port}: exit code {process.returncode}")
    raise RuntimeError(
        f"toxiproxy-server did not answer GET /version within {startup_timeout:g}s "
        f"({'; '.join(failures)}); its log ({log_path}) ends with:\n{server.log_tail()}"
    )


@dataclass(frozen=True)
class ProxyHandle:
    """A proxy created in a test's Toxiproxy server."""

    server_url: str
    name: str
    listen_port: int
    upstream: str

    @property
    def listen(self) -> str:
        return f"{HOST}:{self.listen_port}"


def create_proxy(server_url: str, name: str, upstream: str, *, attempts: int = 5) -> ProxyHandle:
    """Create an enabled proxy listening on a free port (retried when the port
    turns out to be taken: Toxiproxy answers 500 "address already in use")."""
    last_error = ""
    with httpx.Client(base_url=server_url, timeout=5.0, trust_env=False) as client:
        for _ in range(attempts):
            port = free_port()
            response = client.post(
                "/proxies",
                json={
                    "name": name,
                    "listen": f"{HOST}:{port}",
                    "upstream": upstream,
                    "enabled": True,
                },
            )
            if response.status_code == 201:
                return ProxyHandle(server_url, name, port, upstream)
            last_error = f"HTTP {response.status_code}: {response.text.strip()}"
            if "address already in use" not in response.text:
                break
    raise RuntimeError(f"cannot create proxy {name!r} in {server_url}: {last_error}")


def delete_proxy(server_url: str, name: str) -> None:
    """Delete a proxy; one that is already gone is fine."""
    with httpx.Client(base_url=server_url, timeout=5.0, trust_env=False) as client:
        response = client.delete(f"/proxies/{name}")
    if response.status_code not in (204, 404):
        raise RuntimeError(f"cannot delete proxy {name!r}: HTTP {response.status_code}")


# --- HTTP upstream ------------------------------------------------------------


class _UpstreamHandler(BaseHTTPRequestHandler):
    """``GET /health`` → 200 "ok"; ``GET /bytes/N`` → 200 with N bytes of "x"."""

    protocol_version = "HTTP/1.1"  # keep-alive, so one connection can carry many requests
    timeout = 10  # an idle keep-alive connection is closed after this long

    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(200, b"ok")
        elif self.path.startswith("/bytes/") and self.path[len("/bytes/") :].isdigit():
            self._reply(200, b"x" * min(int(self.path[len("/bytes/") :]), 10_000_000))
        else:
            self._reply(404, b"not found")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean


@dataclass
class HttpUpstream:
    server: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5.0)


@contextlib.contextmanager
def start_http_upstream() -> Iterator[HttpUpstream]:
    """A threaded HTTP server on 127.0.0.1 (port chosen by the kernel)."""
    server = ThreadingHTTPServer((HOST, 0), _UpstreamHandler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()
    upstream = HttpUpstream(server, thread)
    try:
        yield upstream
    finally:
        upstream.stop()
