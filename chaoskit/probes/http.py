"""The ``http`` probe: one request; status, JSON path, body regex and latency."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, JsonValue, field_validator

from chaoskit._plugin_api import Expect, Observation, Params, ProbeContext
from chaoskit.probes._jsonpath import MISSING, parse_json_path, resolve
from chaoskit.probes._regex import Regex

__all__ = ["HttpExpect", "HttpParams", "HttpProbe"]


class HttpParams(Params):
    url: str = Field(pattern=r"^https?://", description="http:// or https:// URL")
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: JsonValue = Field(None, alias="json", description="a JSON body to send")
    verify_tls: bool = True


class JsonCheck(Params):
    path: str = Field(description="$.field.sub[0]")
    equals: JsonValue

    @field_validator("path")
    @classmethod
    def _valid_path(cls, value: str) -> str:
        parse_json_path(value)
        return value


class HttpExpect(Expect):
    status: int | list[int] | None = Field(
        None, description="expected status code(s); default: any status below 400"
    )
    json_checks: list[JsonCheck] = Field(default_factory=list, alias="json")
    body_matches: Regex | None = Field(
        None, description="a regular expression searched in the body"
    )

    @field_validator("json_checks", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value


class HttpProbe:
    name: ClassVar[str] = "http"
    params: ClassVar[type[Params]] = HttpParams
    expect: ClassVar[type[Expect]] = HttpExpect

    async def warm_up(self) -> None:
        """Import the client before the first sample, so no sample pays for it."""
        import httpx  # noqa: F401

    async def observe(self, ctx: ProbeContext) -> Observation:
        import httpx  # lazily: the core starts fast without it

        params = ctx.params
        expect = ctx.expect
        assert isinstance(params, HttpParams)
        assert isinstance(expect, HttpExpect)
        client = await ctx.resources.get(
            f"http.client.verify={params.verify_tls}",
            lambda: httpx.AsyncClient(verify=params.verify_tls, follow_redirects=False),
        )
        try:
            response = await client.request(
                params.method,
                params.url,
                headers=params.headers,
                json=params.json_body if params.json_body is not None else None,
                timeout=ctx.timeout,
            )
        except httpx.HTTPError as exc:
            return Observation(ok=False, detail=f"{type(exc).__name__}: {exc}".rstrip(": "))
        return _judge(response.status_code, response.text, expect)


def _judge(status: int, body: str, expect: HttpExpect) -> Observation:
    problems: list[str] = []
    if expect.status is None:
        if status >= 400:
            problems.append(f"status {status}")
    elif status not in (expect.status if isinstance(expect.status, list) else [expect.status]):
        problems.append(f"status {status}, expected {expect.status}")
    if expect.json_checks:
        try:
            import json

            document = json.loads(body)
        except ValueError:
            problems.append("body is not JSON")
        else:
            for check in expect.json_checks:
                found = resolve(document, parse_json_path(check.path))
                if found is MISSING:
                    problems.append(f"{check.path} missing")
                elif found != check.equals:
                    problems.append(f"{check.path} is {found!r}, expected {check.equals!r}")
    if expect.body_matches is not None and re.search(expect.body_matches, body) is None:
        problems.append(f"body does not match {expect.body_matches!r}")
    return Observation(ok=not problems, value=status, detail="; ".join(problems))
