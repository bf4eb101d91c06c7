"""The Docker SDK (blocking) behind an async face.

One :class:`DockerEngine` wraps one ``docker.DockerClient`` for one call
sequence (an injector call) or for one run (a probe, through
``ctx.resources``). Every SDK call runs in a worker thread; the client's own
HTTP timeout bounds it, since a worker thread cannot be killed. Reads may be
abandoned when cancelled; calls that change something are waited for, so that
a cancelled call cannot land after a revert and undo it.

Every failure becomes a :class:`chaoskit.InjectorError` that names the engine
and what was asked; a missing container, network or exec instance is the
subclass :class:`EngineNotFound`.

The API version is negotiated with each engine once per process (``GET
/version``, 6 ms of every client otherwise) and remembered per address; an
engine that refuses the remembered version (it was replaced by an older one)
has it forgotten, and the next client negotiates again. The memo holds facts
about engines, never state of a run, so concurrent runs share it safely.
"""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import docker
import docker.errors

from chaoskit import InjectorError

__all__ = [
    "DEFAULT_TIMEOUT",
    "DockerEngine",
    "EngineConflict",
    "EngineNotFound",
    "open_engine",
]

DEFAULT_TIMEOUT = 10.0
"""Seconds allowed for one Engine API call (a stop's grace period is added to it)."""


class EngineNotFound(InjectorError):
    """Raised when the engine answers 404: no such container, network or exec instance."""


class EngineConflict(InjectorError):
    """Raised when the engine answers 409: the object is in the wrong state (paused,
    not running, conflicting options)."""


def _where(docker_host: str | None) -> str:
    return docker_host or os.environ.get("DOCKER_HOST") or "the local socket"


_API_VERSIONS: dict[str, str] = {}
"""Negotiated API version per engine address (see the module docstring)."""


def _make_client(docker_host: str | None, timeout: float) -> Any:
    environment = dict(os.environ)
    if docker_host is not None:
        environment["DOCKER_HOST"] = docker_host
    where = _where(docker_host)
    client = docker.DockerClient.from_env(
        version=_API_VERSIONS.get(where, "auto"), timeout=round(timeout), environment=environment
    )
    _API_VERSIONS[where] = str(client.api.api_version)
    return client


class DockerEngine:
    """A Docker client for async code. Create with :func:`open_engine`."""

    def __init__(self, client: Any, docker_host: str | None) -> None:
        self.client = client
        self.api = client.api
        self.docker_host = docker_host
        self.where = _where(docker_host)

    async def call(
        self, what: str, fn: Callable[..., Any], *args: Any, read_only: bool = False, **kwargs: Any
    ) -> Any:
        """``fn(*args, **kwargs)`` in a worker thread; errors become InjectorError
        naming ``what`` (e.g. "kill container web"). ``read_only`` calls are
        abandoned at once when cancelled."""
        try:
            return await anyio.to_thread.run_sync(
                functools.partial(fn, *args, **kwargs), abandon_on_cancel=read_only
            )
        except docker.errors.NotFound as exc:
            raise EngineNotFound(
                f"Docker engine at {self.where}: cannot {what}: {_explain(exc)}"
            ) from exc
        except docker.errors.APIError as exc:
            if "client version" in _explain(exc).lower():
                _API_VERSIONS.pop(self.where, None)  # negotiate again next time
            kind = EngineConflict if exc.status_code == 409 else InjectorError
            raise kind(
                f"Docker engine at {self.where} refused to {what}: {_explain(exc)} "
                f"(HTTP {exc.status_code})"
            ) from exc
        except (docker.errors.DockerException, OSError) as exc:
            # requests' connection errors and timeouts are OSErrors.
            raise InjectorError(
                f"cannot reach the Docker engine at {self.where} to {what}: {exc}"
            ) from exc

    async def post_json(self, what: str, path: str, resource: str, body: dict[str, Any]) -> Any:
        """POST a JSON body to an Engine API path the SDK has no method for
        (``/containers/{0}/update`` with NanoCpus, ``/networks/{0}/connect``
        with a whole EndpointConfig); the decoded answer."""

        def post() -> Any:
            response = self.api._post_json(self.api._url(path, resource), data=body)
            self.api._raise_for_status(response)
            return response.json() if response.content else None

        return await self.call(what, post)

    async def inspect_container(self, container: str) -> dict[str, Any]:
        info: dict[str, Any] = await self.call(
            f"inspect container {container}", self.api.inspect_container, container, read_only=True
        )
        return info

    async def find_container(self, container: str) -> dict[str, Any] | None:
        """The container's inspect document, or None when the engine has no such one."""
        try:
            return await self.inspect_container(container)
        except EngineNotFound:
            return None

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.client.close)


def _explain(exc: docker.errors.APIError) -> str:
    return str(exc.explanation or exc)


@asynccontextmanager
async def open_engine(
    docker_host: str | None, *, timeout: float = DEFAULT_TIMEOUT
) -> AsyncIterator[DockerEngine]:
    """``async with open_engine(host) as engine``: a client, closed on exit.
    ``None`` means the environment (``DOCKER_HOST``) or the local socket."""
    try:
        client = await anyio.to_thread.run_sync(_make_client, docker_host, timeout)
    except (docker.errors.DockerException, OSError) as exc:
        raise InjectorError(
            f"cannot reach the Docker engine at {_where(docker_host)}: {exc}; "
            "is dockerd running, and may this user use its socket?"
        ) from exc
    engine = DockerEngine(client, docker_host)
    try:
        yield engine
    finally:
        await engine.aclose()
