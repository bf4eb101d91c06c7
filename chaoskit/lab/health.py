"""Health checks of the lab's services, with the standard library only (the core imports no
database or HTTP client of the services). Every check is bounded by its timeout."""

from __future__ import annotations

import json
import socket
import struct
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from chaoskit.lab.config import HOST, LabPorts

__all__ = [
    "PROXIES",
    "SERVICES",
    "Health",
    "check_service",
    "http_get",
    "port_answers",
    "postgres_ready",
]

#: The lab's services, in start order.
SERVICES = ("postgres", "toxiproxy", "ledger", "catalog")
#: The Toxiproxy proxies the lab creates at start.
PROXIES = ("ledger_postgres", "catalog_ledger")

# No proxy from the environment: the lab is on 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str


def http_get(url: str, timeout: float = 1.0) -> tuple[int | None, Any, str]:
    """(status, parsed JSON body or None, problem): status None when nothing answered."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            status, body = int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, None, f"{url}: {reason}"
    try:
        return status, json.loads(body), ""
    except ValueError:
        return status, None, ""


def port_answers(port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def postgres_ready(port: int, database: str = "ledger", timeout: float = 1.0) -> Health:
    """Speak just enough of the PostgreSQL protocol to tell whether the server accepts
    connections to ``database``: a session that reaches ReadyForQuery (trust), or a password
    request (the server is up; we carry no password), is ready; an ErrorResponse says why not
    (starting up, no such database); a connection closed without a reply means nothing is
    behind the port (docker-proxy accepts before the server listens)."""
    payload = b"user\0ledger\0database\0" + database.encode() + b"\0\0"
    startup = struct.pack("!ii", 8 + len(payload), 196608) + payload  # protocol 3.0
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(startup)
            for _ in range(100):  # AuthenticationOk, ParameterStatus..., BackendKeyData, Z
                header = _recv_exactly(sock, 5)
                if header is None:
                    return Health(False, "connection closed before a reply")
                kind, length = header[:1], struct.unpack("!i", header[1:])[0]
                body = _recv_exactly(sock, max(0, min(length - 4, 65536))) or b""
                if kind == b"E":
                    return Health(False, _error_message(body))
                if kind == b"R" and body[:4] != b"\0\0\0\0":
                    return Health(True, f"accepting connections on {HOST}:{port} (password)")
                if kind == b"Z":
                    sock.sendall(b"X" + struct.pack("!i", 4))
                    return Health(True, f"accepting connections on {HOST}:{port}")
            return Health(False, "no ReadyForQuery")
    except OSError as exc:
        return Health(False, f"{HOST}:{port}: {exc.strerror or type(exc).__name__}")


def _recv_exactly(sock: socket.socket, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _error_message(body: bytes) -> str:
    """The 'M' (message) field of an ErrorResponse body."""
    for field in body.split(b"\0"):
        if field.startswith(b"M"):
            return field[1:].decode(errors="replace")
    return "error response"


def _toxiproxy(ports: LabPorts, timeout: float) -> Health:
    status, body, problem = http_get(f"{ports.toxiproxy_url}/proxies", timeout)
    if status != 200 or not isinstance(body, dict):
        return Health(False, problem or f"GET /proxies answered {status}")
    missing = [name for name in PROXIES if name not in body]
    if missing:
        return Health(False, f"proxies missing: {', '.join(missing)}")
    states = [
        f"{name} {'enabled' if body[name].get('enabled') else 'DISABLED'}" for name in PROXIES
    ]
    return Health(True, ", ".join(states))


def _http_health(url: str, timeout: float) -> Health:
    status, body, problem = http_get(f"{url}/health", timeout)
    if status == 200:
        return Health(True, f"{url}/health 200")
    if status is None:
        return Health(False, problem)
    detail = body.get("error", "") if isinstance(body, dict) else ""
    return Health(False, f"{url}/health {status}{' ' + detail if detail else ''}")


def check_service(name: str, ports: LabPorts, timeout: float = 1.0) -> Health:
    """The health of one lab service, as seen from 127.0.0.1."""
    if name == "postgres":
        return postgres_ready(ports.postgres, timeout=timeout)
    if name == "toxiproxy":
        return _toxiproxy(ports, timeout)
    if name == "ledger":
        return _http_health(ports.ledger_url, timeout + 1.0)  # its own ping has 1 s
    if name == "catalog":
        return _http_health(ports.catalog_url, timeout)
    raise ValueError(f"unknown lab service {name!r}")
