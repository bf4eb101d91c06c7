"""The ``http`` load kind: one HTTP request per send, through aiohttp (which
keeps its throughput under concurrency, unlike httpx — see FACTS.md)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, JsonValue, field_validator

from chaoskit._plugin_api import LoadContext, Outcome, Params
from chaoskit._templates import Template, check_template

__all__ = ["HttpLoad", "HttpLoadParams"]


class HttpLoadParams(Params):
    url: str = Field(pattern=r"^https?://", description="may hold {{id}}, {{seq}}, {{uuid}}")
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: JsonValue = Field(None, alias="json", description="a JSON body; may hold {{...}}")
    acknowledged: list[int] = Field(
        default_factory=lambda: list(range(200, 300)),
        description="statuses that acknowledge a write (default: any 2xx)",
    )
    failed: list[int] = Field(
        default_factory=lambda: list(range(400, 500)),
        description="statuses that are a definite failure (default: any 4xx); any other "
        "status, a timeout or a reset is indeterminate",
    )

    @field_validator("url", "json_body", "headers")
    @classmethod
    def _known_placeholders(cls, value: Any) -> Any:
        if unknown := check_template(value):
            raise ValueError(f"unknown placeholder(s) {sorted(set(unknown))}; use id, seq, uuid")
        return value


class HttpLoad:
    name: ClassVar[str] = "http"
    params: ClassVar[type[Params]] = HttpLoadParams
    enforces_timeout: ClassVar[bool] = True  # aiohttp's ClientTimeout(total=ctx.timeout)

    async def warm_up(self) -> None:
        """Import the client before the load starts, so no request pays for it."""
        import aiohttp  # noqa: F401

    async def send(self, ctx: LoadContext) -> Outcome:
        import aiohttp

        params = ctx.params
        assert isinstance(params, HttpLoadParams)
        session = await ctx.resources.get("load.http.session", _session)
        templates = await ctx.resources.get(f"load.http.templates.{ctx.stream}", _TemplateCache)
        url, body = templates.render(params, ctx)
        try:
            async with session.request(
                params.method,
                url,
                json=body,
                headers=params.headers,
                timeout=aiohttp.ClientTimeout(total=ctx.timeout),
            ) as response:
                await response.read()
                status = response.status
        except aiohttp.ClientConnectorError as exc:
            # refused before anything was sent: definitely not done
            return Outcome("failed", None, f"connect: {exc.os_error or exc}")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return Outcome("indeterminate", None, f"{type(exc).__name__}: {exc}".rstrip(": "))
        if status in params.acknowledged:
            return Outcome("acknowledged", status)
        if status in params.failed:
            return Outcome("failed", status, f"status {status}")
        return Outcome("indeterminate", status, f"status {status}")


def _session() -> Any:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
    return aiohttp.ClientSession(connector=connector, trust_env=False)


class _TemplateCache:
    """Compiled templates of one stream, kept for the run."""

    def __init__(self) -> None:
        self._compiled: tuple[Template, Template] | None = None

    async def __aenter__(self) -> _TemplateCache:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    def render(self, params: HttpLoadParams, ctx: LoadContext) -> tuple[str, Any]:
        if self._compiled is None:
            self._compiled = (Template(params.url), Template(params.json_body))
        url, body = self._compiled
        return (
            url.render(ctx.write_id, ctx.seq, ctx.stream),
            body.render(ctx.write_id, ctx.seq, ctx.stream),
        )
