"""The ``tcp`` probe: can a TCP connection be opened (or, for partitions, not)?"""

from __future__ import annotations

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
            stream = await anyio.connect_tcp(params.host, params.port)
        except OSError as exc:
            detail = exc.strerror or type(exc).__name__
        else:
            connected = True
            await stream.aclose()
        ok = connected == expect.connect
        why = "" if ok else (detail or "connected, expected no connection")
        return Observation(ok=ok, value=connected, detail=why)
