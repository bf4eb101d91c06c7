"""The ``http`` lookup: one GET per write id; a status says present or absent."""

from __future__ import annotations

from typing import Any, ClassVar

import anyio
from pydantic import Field

from chaoskit._plugin_api import LookupContext, Params
from chaoskit._templates import Template

__all__ = ["HttpLookup", "HttpLookupParams"]


class HttpLookupParams(Params):
    url: str = Field(pattern=r"^https?://", description="GET per write id; holds {{id}}")
    present_if: list[int] = Field(default_factory=lambda: [200], description="statuses")
    absent_if: list[int] = Field(default_factory=lambda: [404], description="statuses")
    concurrency: int = Field(32, ge=1, le=1024, description="lookups in flight")


class HttpLookup:
    name: ClassVar[str] = "http"
    params: ClassVar[type[Params]] = HttpLookupParams
    counts_copies: ClassVar[bool] = False

    async def find(self, ctx: LookupContext, ids: list[str]) -> dict[str, int]:
        import aiohttp

        params = ctx.params
        assert isinstance(params, HttpLookupParams)
        session = await ctx.resources.get("lookup.http.session", _session)
        url = Template(params.url)
        timeout = aiohttp.ClientTimeout(total=ctx.timeout)
        found: dict[str, int] = {}
        pending = iter(ids)

        async def worker() -> None:
            for write_id in pending:  # a shared iterator: each id is taken once
                try:
                    async with session.get(
                        url.render(write_id, 0, ctx.stream), timeout=timeout
                    ) as response:
                        await response.read()
                        status = response.status
                except (TimeoutError, aiohttp.ClientError, OSError):
                    continue  # unverified
                if status in params.present_if:
                    found[write_id] = 1
                elif status in params.absent_if:
                    found[write_id] = 0

        async with anyio.create_task_group() as group:
            for _ in range(min(params.concurrency, len(ids))):
                group.start_soon(worker)
        return found


def _session() -> Any:
    import aiohttp

    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), trust_env=False)
