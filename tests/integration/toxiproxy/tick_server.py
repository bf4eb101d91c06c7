"""A TCP upstream whose traffic can be watched in both directions, for the
partition tests: on every connection it sends a tick byte every
``TICK_EVERY`` seconds (server to client, downstream) and keeps every byte it
receives (client to server, upstream).

Plain blocking sockets and threads, nothing shared with the code under test;
call the client helpers through ``anyio.to_thread.run_sync``. Everything
listens on 127.0.0.1; every loop is bounded in count and every wait in time.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

HOST = "127.0.0.1"
TICK = b"."
TICK_EVERY = 0.05
MAX_CONNECTION_STEPS = 2400  # x TICK_EVERY: a connection lives at most ~2 minutes
MAX_ACCEPT_STEPS = 6000  # x 0.1 s: the server accepts for at most ~10 minutes


@dataclass
class TickServer:
    """The running server: ``port``, ``received()``, ``stop()``."""

    listener: socket.socket
    stopping: threading.Event = field(default_factory=threading.Event)
    _received: bytearray = field(default_factory=bytearray)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def received(self) -> bytes:
        """Every byte any client sent so far, all connections together."""
        with self._lock:
            return bytes(self._received)

    def start(self) -> None:
        self._spawn(self._accept)

    def stop(self) -> None:
        self.stopping.set()
        for thread in list(self._threads):
            thread.join(timeout=5.0)
        self.listener.close()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        for _ in range(MAX_ACCEPT_STEPS):
            if self.stopping.is_set():
                return
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, connection)

    def _serve(self, connection: socket.socket) -> None:
        """Tick and read, alternately, until the peer goes or the server stops."""
        with connection:
            connection.settimeout(TICK_EVERY)
            for _ in range(MAX_CONNECTION_STEPS):
                if self.stopping.is_set():
                    return
                try:
                    connection.sendall(TICK)
                    chunk = connection.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                with self._lock:
                    self._received += chunk


def start_tick_server() -> TickServer:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, 0))
    listener.listen(64)
    server = TickServer(listener)
    server.start()
    return server


# --- the client side ------------------------------------------------------------


@dataclass(frozen=True)
class Heard:
    """What a client read during a window: the bytes, and whether the
    connection was closed or reset meanwhile."""

    data: bytes
    closed: bool


def connect(port: int, *, timeout: float = 2.0) -> socket.socket:
    return socket.create_connection((HOST, port), timeout=timeout)


def listen_for(sock: socket.socket, seconds: float, *, max_reads: int = 10_000) -> Heard:
    """Read whatever arrives on ``sock`` for ``seconds``."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + seconds
    for _ in range(max_reads):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except OSError:
            return Heard(b"".join(chunks), closed=True)
        if not chunk:
            return Heard(b"".join(chunks), closed=True)
        chunks.append(chunk)
    return Heard(b"".join(chunks), closed=False)


def hear_ticks(sock: socket.socket, *, within: float = 3.0, max_reads: int = 1000) -> bool:
    """True as soon as a tick arrives on ``sock``; False if none within ``within``."""
    deadline = time.monotonic() + within
    for _ in range(max_reads):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, OSError):
            return False
        if not chunk:
            return False
        if TICK in chunk:
            return True
    return False


def reaches(server: TickServer, marker: bytes, *, within: float = 3.0) -> bool:
    """True as soon as ``marker`` has arrived at ``server``; False if it has not
    within ``within`` seconds."""
    deadline = time.monotonic() + within
    for _ in range(int(within / 0.02) + 1):
        if marker in server.received():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return marker in server.received()
