"""The ``tcp`` probe: can a TCP connection be opened (or, for partitions, not)?"""

from __future__ import annotations

import errno
import functools
import ipaddress
import os
import socket
from typing import ClassVar

import anyio
from pydantic import Field

from chaoskit._plugin_api import Expect, Observation, Params, ProbeContext

__all__ = ["TcpExpect", "TcpParams", "TcpProbe"]


class TcpParams(Params):
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)


class TcpExpect(Expect):
    connect: bool = Field(True, description="false: the port must refuse or not answer")


class TcpProbe:
    name: ClassVar[str] = "tcp"
    params: ClassVar[type[Params]] = TcpParams
    expect: ClassVar[type[Expect]] = TcpExpect

    async def observe(self, ctx: ProbeContext) -> Observation:
        params, expect = ctx.params, ctx.expect
        assert isinstance(params, TcpParams)
        assert isinstance(expect, TcpExpect)
        # the runner bounds the sample by ctx.timeout; no second timeout here
        connected, detail = False, ""
        try:
            family = _literal_family(params.host)
            if family is None:  # a name: resolution and happy eyeballs
                stream = await anyio.connect_tcp(params.host, params.port)
                await stream.aclose()
            else:  # an address: one non-blocking connect, no stream built
                await _connect(family, params.host, params.port)
        except OSError as exc:
            detail = exc.strerror or type(exc).__name__
        else:
            connected = True
        ok = connected == expect.connect
        why = "" if ok else (detail or "connected, expected no connection")
        return Observation(ok=ok, value=connected, detail=why)


@functools.lru_cache(maxsize=64)
def _literal_family(host: str) -> socket.AddressFamily | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return socket.AF_INET if address.version == 4 else socket.AF_INET6


async def _connect(family: socket.AddressFamily, host: str, port: int) -> None:
    """Open a TCP connection to an address and close it at once; OSError if it
    fails. Probes sample often: this costs a quarter of anyio.connect_tcp, whose
    happy-eyeballs task group and stream the probe never uses."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        error = sock.connect_ex((host, port))
        if error in (errno.EINPROGRESS, errno.EAGAIN):
            await anyio.wait_writable(sock)
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise OSError(error, os.strerror(error))
    finally:
        sock.close()
