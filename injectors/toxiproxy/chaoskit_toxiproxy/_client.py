"""A small typed async client for the Toxiproxy HTTP API.

One :class:`ToxiproxyClient` talks to one server, named by its URL; there is no
class-level or global state, so one process can drive several servers at once
(see docs/decisions/0002-toxiproxy-client.md). Every call is bounded by a total
deadline, and every failure becomes a :class:`chaoskit.InjectorError` whose
message names the server and what was asked.

API reference: Toxiproxy's README and ``api.go`` (v2). Proxy updates use
``POST /proxies/{name}``, which every 2.x server accepts (2.6+ also takes PATCH
and logs POST as deprecated).
"""

from __future__ import annotations

import functools
import math
import ssl
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

import anyio
import httpx

from chaoskit import InjectorError, JsonValue

__all__ = [
    "DEFAULT_TIMEOUT",
    "Proxy",
    "ProxyAlreadyExists",
    "ProxyNotFound",
    "Toxic",
    "ToxicAlreadyExists",
    "ToxicNotFound",
    "ToxiproxyApiError",
    "ToxiproxyClient",
]

DEFAULT_TIMEOUT = 5.0
"""Seconds allowed for one API call, connection included."""

Stream = Literal["upstream", "downstream"]


class ToxiproxyApiError(InjectorError):
    """The Toxiproxy server answered a call with an error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ProxyNotFound(ToxiproxyApiError):
    """Raised when the named proxy does not exist on the server (HTTP 404)."""


class ToxicNotFound(ToxiproxyApiError):
    """Raised when the named toxic does not exist on its proxy (HTTP 404)."""


class ProxyAlreadyExists(ToxiproxyApiError):
    """Raised when creating a proxy whose name or listen address is taken (HTTP 409)."""


class ToxicAlreadyExists(ToxiproxyApiError):
    """Raised when adding a toxic whose name is taken on that proxy (HTTP 409)."""


@dataclass(frozen=True)
class Toxic:
    """A toxic as the server lists it."""

    name: str
    type: str
    stream: Stream
    toxicity: float
    attributes: dict[str, JsonValue]


@dataclass(frozen=True)
class Proxy:
    """A proxy as the server lists it, with its toxics."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[Toxic, ...] = field(default=())


class ToxiproxyClient:
    """Client of one Toxiproxy server. Use as an async context manager::

    async with ToxiproxyClient("http://127.0.0.1:8474") as client:
        proxy = await client.get_proxy("ledger_postgres")
    """

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        if not math.isfinite(timeout) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        # trust_env=False: the Toxiproxy API is a lab-local control plane, and a
        # proxy configured in the environment must not sit between us and it.
        self._http = httpx.AsyncClient(
            base_url=self.url,
            timeout=httpx.Timeout(timeout),
            trust_env=False,
            verify=_tls_context(),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # --- server -------------------------------------------------------------

    async def version(self) -> str:
        """The server's version string; also a reachability check."""
        body = await self._call("GET", "/version", what="read the version")
        if isinstance(body, dict) and isinstance(body.get("version"), str):
            return str(body["version"])
        # Servers before 2.1 answer with the bare version as text.
        return str(body).strip()

    # --- proxies ------------------------------------------------------------

    async def list_proxies(self) -> dict[str, Proxy]:
        """Every proxy on the server, by name."""
        body = await self._call("GET", "/proxies", what="list proxies")
        if not isinstance(body, dict):
            raise self._malformed("list proxies", body)
        return {name: _proxy(raw) for name, raw in body.items()}

    async def get_proxy(self, name: str) -> Proxy:
        """One proxy with its toxics. Raises :class:`ProxyNotFound`."""
        body = await self._call(
            "GET", f"/proxies/{_segment(name)}", what=f"read proxy {name!r}", proxy=name
        )
        return _proxy(body)

    async def create_proxy(
        self, name: str, *, listen: str, upstream: str, enabled: bool = True
    ) -> Proxy:
        """Create a proxy. Raises :class:`ProxyAlreadyExists` when the name or
        the listen address is taken."""
        body = await self._call(
            "POST",
            "/proxies",
            what=f"create proxy {name!r} ({listen} -> {upstream})",
            json={"name": name, "listen": listen, "upstream": upstream, "enabled": enabled},
            conflict=ProxyAlreadyExists,
        )
        return _proxy(body)

    async def set_enabled(self, name: str, enabled: bool) -> Proxy:
        """Enable or disable a proxy. Disabling closes its listener and every
        connection through it. Raises :class:`ProxyNotFound`."""
        verb = "enable" if enabled else "disable"
        body = await self._call(
            "POST",
            f"/proxies/{_segment(name)}",
            what=f"{verb} proxy {name!r}",
            json={"enabled": enabled},
            proxy=name,
        )
        return _proxy(body)

    async def delete_proxy(self, name: str) -> None:
        """Delete a proxy. Raises :class:`ProxyNotFound`."""
        await self._call(
            "DELETE", f"/proxies/{_segment(name)}", what=f"delete proxy {name!r}", proxy=name
        )

    # --- toxics -------------------------------------------------------------

    async def list_toxics(self, proxy: str) -> list[Toxic]:
        """The toxics of a proxy. Raises :class:`ProxyNotFound`."""
        body = await self._call(
            "GET",
            f"/proxies/{_segment(proxy)}/toxics",
            what=f"list the toxics of proxy {proxy!r}",
            proxy=proxy,
        )
        if not isinstance(body, list):
            raise self._malformed(f"list the toxics of proxy {proxy!r}", body)
        return [_toxic(raw) for raw in body]

    async def add_toxic(
        self,
        proxy: str,
        *,
        name: str,
        type: str,
        stream: Stream,
        toxicity: float,
        attributes: dict[str, JsonValue],
    ) -> Toxic:
        """Add a toxic to a proxy. Raises :class:`ProxyNotFound` and
        :class:`ToxicAlreadyExists`."""
        body = await self._call(
            "POST",
            f"/proxies/{_segment(proxy)}/toxics",
            what=f"add {type} toxic {name!r} to proxy {proxy!r}",
            json={
                "name": name,
                "type": type,
                "stream": stream,
                "toxicity": toxicity,
                "attributes": attributes,
            },
            proxy=proxy,
            conflict=ToxicAlreadyExists,
        )
        return _toxic(body)

    async def remove_toxic(self, proxy: str, name: str) -> None:
        """Remove a toxic. Raises :class:`ProxyNotFound` or :class:`ToxicNotFound`."""
        await self._call(
            "DELETE",
            f"/proxies/{_segment(proxy)}/toxics/{_segment(name)}",
            what=f"remove toxic {name!r} from proxy {proxy!r}",
            proxy=proxy,
            toxic=name,
        )

    # --- plumbing -----------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json: dict[str, Any] | None = None,
        proxy: str | None = None,
        toxic: str | None = None,
        conflict: type[ToxiproxyApiError] = ToxiproxyApiError,
    ) -> Any:
        """One request under a total deadline; the decoded JSON body, or None."""
        try:
            with anyio.fail_after(self.timeout):
                response = await self._http.request(method, path, json=json)
        except TimeoutError as exc:
            raise InjectorError(
                f"Toxiproxy at {self.url} did not answer within {self.timeout:g}s "
                f"(trying to {what})"
            ) from exc
        except httpx.HTTPError as exc:
            raise InjectorError(f"cannot reach Toxiproxy at {self.url} to {what}: {exc!r}") from exc
        if response.is_success:
            if response.status_code == 204 or not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                return response.text
        raise self._api_error(response, what=what, proxy=proxy, toxic=toxic, conflict=conflict)

    def _api_error(
        self,
        response: httpx.Response,
        *,
        what: str,
        proxy: str | None,
        toxic: str | None,
        conflict: type[ToxiproxyApiError],
    ) -> ToxiproxyApiError:
        status = response.status_code
        reason = _error_text(response)
        message = f"Toxiproxy at {self.url} refused to {what}: {reason} (HTTP {status})"
        if status == 404:
            # One status for both: the server's message tells which is missing.
            if toxic is not None and "toxic" in reason.lower():
                return ToxicNotFound(message, status)
            if proxy is not None:
                return ProxyNotFound(message, status)
        if status == 409:
            return conflict(message, status)
        return ToxiproxyApiError(message, status)

    def _malformed(self, what: str, body: object) -> InjectorError:
        return InjectorError(
            f"Toxiproxy at {self.url} gave an unexpected answer when asked to {what}: "
            f"{str(body)[:200]!r}"
        )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The TLS context every client uses: httpx's default for ``trust_env=False``
    (verifying, against certifi's CA bundle), built once per process. Building
    one loads the whole bundle (some 40 ms), and a client is made for every
    call sequence. A context is safe to share between clients, threads and
    event loops (httpcore sets the same ALPN, http/1.1, on it for each TLS
    connection)."""
    return httpx.create_ssl_context(trust_env=False)


def _segment(name: str) -> str:
    """A proxy or toxic name as one URL path segment."""
    return quote(name, safe="")


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return str(body)[:200]


def _proxy(raw: Any) -> Proxy:
    if not isinstance(raw, dict):
        raise InjectorError(f"Toxiproxy answered with a malformed proxy: {str(raw)[:200]!r}")
    try:
        return Proxy(
            name=str(raw["name"]),
            listen=str(raw["listen"]),
            upstream=str(raw["upstream"]),
            enabled=bool(raw["enabled"]),
            toxics=tuple(_toxic(item) for item in raw.get("toxics") or ()),
        )
    except KeyError as exc:
        raise InjectorError(
            f"Toxiproxy answered with a proxy that lacks {exc}: {str(raw)[:200]!r}"
        ) from exc


def _toxic(raw: Any) -> Toxic:
    if not isinstance(raw, dict):
        raise InjectorError(f"Toxiproxy answered with a malformed toxic: {str(raw)[:200]!r}")
    try:
        stream = raw["stream"]
        if stream not in ("upstream", "downstream"):
            raise InjectorError(f"Toxiproxy answered with a toxic on stream {stream!r}")
        attributes = raw.get("attributes") or {}
        return Toxic(
            name=str(raw["name"]),
            type=str(raw["type"]),
            stream=stream,
            toxicity=float(raw.get("toxicity", 1.0)),
            attributes=dict(attributes) if isinstance(attributes, dict) else {},
        )
    except KeyError as exc:
        raise InjectorError(
            f"Toxiproxy answered with a toxic that lacks {exc}: {str(raw)[:200]!r}"
        ) from exc
