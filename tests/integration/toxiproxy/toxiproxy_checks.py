"""Independent checks of what a fault does to traffic through a proxy.

Plain blocking sockets and ``http.client`` — nothing shared with the code under
test. Call them through ``anyio.to_thread.run_sync`` from async tests. Every
read is bounded by a socket timeout and every loop by a count.
"""

from __future__ import annotations

import http.client
import socket
import time
from dataclasses import dataclass

import httpx

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    elapsed: float


def http_get(port: int, path: str = "/health", *, timeout: float = 5.0) -> Reply:
    """One GET on a new connection; raises what the connection raises."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        return get_on(connection, path)
    finally:
        connection.close()


def get_on(connection: http.client.HTTPConnection, path: str = "/health") -> Reply:
    """One GET on ``connection`` (reused when it is already open)."""
    started = time.monotonic()
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    return Reply(response.status, body, time.monotonic() - started)


@dataclass(frozen=True)
class Exchange:
    data: bytes
    first_byte_after: float | None
    eof_after: float


def exchange_until_eof(
    port: int,
    path: str = "/health",
    *,
    keep_alive: bool = False,
    timeout: float = 5.0,
    max_reads: int = 100_000,
) -> Exchange:
    """Send ``GET path`` on a raw socket and read until the proxy closes the
    connection. Without ``keep_alive`` the request says ``Connection: close``,
    so the upstream closes right after its answer; with it, the upstream keeps
    the connection open (for 10 s). Raises on reset or timeout."""
    connection = "keep-alive" if keep_alive else "close"
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: {connection}\r\n\r\n"
    chunks: list[bytes] = []
    first_byte_after: float | None = None
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        started = time.monotonic()
        sock.sendall(request.encode())
        for _ in range(max_reads):
            chunk = sock.recv(65536)
            if not chunk:
                return Exchange(b"".join(chunks), first_byte_after, time.monotonic() - started)
            if first_byte_after is None:
                first_byte_after = time.monotonic() - started
            chunks.append(chunk)
    raise AssertionError(f"no EOF after {max_reads} reads")


def refuses_connections(port: int, *, timeout: float = 2.0) -> bool:
    """True when connecting to the port is refused."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True


def proxy_json(server_url: str, name: str) -> dict[str, object] | None:
    """The proxy as Toxiproxy's API shows it, read independently; None when absent."""
    response = httpx.get(f"{server_url}/proxies/{name}", timeout=5.0, trust_env=False)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    body: dict[str, object] = response.json()
    return body


def toxic_names(server_url: str, name: str) -> list[str]:
    """Names of the toxics on a proxy, read independently."""
    response = httpx.get(f"{server_url}/proxies/{name}/toxics", timeout=5.0, trust_env=False)
    response.raise_for_status()
    return sorted(str(toxic["name"]) for toxic in response.json())


def toxics_by_name(server_url: str, name: str) -> dict[str, dict[str, object]]:
    response = httpx.get(f"{server_url}/proxies/{name}/toxics", timeout=5.0, trust_env=False)
    response.raise_for_status()
    return {str(toxic["name"]): toxic for toxic in response.json()}
