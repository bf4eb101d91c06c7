"""``docker.network_disconnect``: disconnect each container from a network
(``docker network disconnect``), and reconnect it as it was."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chaoskit import (
    FaultContext,
    InjectorError,
    JsonValue,
    Params,
    params_as,
)
from chaoskit_docker._base import (
    ContainerInjector,
)
from chaoskit_docker._client import DockerEngine, EngineNotFound
from chaoskit_docker._select import ContainerRef, Resolved

__all__ = ["NetworkDisconnect", "NetworkDisconnectEntry", "NetworkDisconnectParams"]


class NetworkDisconnectParams(Params):
    network: str = Field(min_length=1, description="the network's name or id")
    force: bool = Field(default=False, description="force the disconnection (docker -f)")


class NetworkDisconnectEntry(ContainerRef):
    """``network`` (its name) and ``network_id``; ``connected``: whether the
    container was attached before; ``endpoint``: its endpoint settings then,
    as the engine's EndpointConfig (Aliases without the automatic short id,
    IPAMConfig when addresses were configured, Links, DriverOpts)."""

    network: str
    network_id: str
    connected: bool
    endpoint: dict[str, JsonValue] = Field(default_factory=dict)


def _attachment(info: dict[str, Any], network_id: str, network_name: str) -> dict[str, Any] | None:
    networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
    for name, settings in networks.items():
        if name == network_name or (settings or {}).get("NetworkID") == network_id:
            return dict(settings or {})
    return None


def _endpoint_config(info: dict[str, Any], settings: dict[str, Any]) -> dict[str, JsonValue]:
    """What reconnecting needs to give the container the same endpoint."""
    automatic = {str(info["Id"])[:12]}
    config: dict[str, JsonValue] = {}
    aliases: list[JsonValue] = [
        str(alias) for alias in settings.get("Aliases") or [] if str(alias) not in automatic
    ]
    if aliases:
        config["Aliases"] = aliases
    ipam = {key: value for key, value in (settings.get("IPAMConfig") or {}).items() if value}
    if ipam:
        config["IPAMConfig"] = ipam
    for key in ("Links", "DriverOpts"):
        if settings.get(key):
            config[key] = settings[key]
    return config


class NetworkDisconnect(ContainerInjector[NetworkDisconnectEntry]):
    """Disconnects each container from ``network``. Revert reconnects it (or the
    container recreated in its place, if that one is not attached) with the
    recorded aliases and configured addresses."""

    name = "docker.network_disconnect"
    params = NetworkDisconnectParams
    entry = NetworkDisconnectEntry
    states = None

    async def _network(self, engine: DockerEngine, network: str) -> dict[str, Any]:
        try:
            found: dict[str, Any] = await engine.call(
                f"inspect network {network}", engine.api.inspect_network, network, read_only=True
            )
        except EngineNotFound as exc:
            raise InjectorError(
                f"there is no network {network!r} on the Docker engine at {engine.where}"
            ) from exc
        return found

    async def usable(self, ctx: FaultContext, engine: DockerEngine, info: dict[str, Any]) -> None:
        params = params_as(ctx.params, NetworkDisconnectParams)
        network = await self._network(engine, params.network)
        if _attachment(info, network["Id"], network["Name"]) is None:
            raise InjectorError(
                f"container {str(info.get('Name', '')).lstrip('/')} is not attached to "
                f"network {params.network!r}"
            )

    async def record(
        self, ctx: FaultContext, engine: DockerEngine, info: dict[str, Any]
    ) -> NetworkDisconnectEntry:
        params = params_as(ctx.params, NetworkDisconnectParams)
        network = await self._network(engine, params.network)
        settings = _attachment(info, network["Id"], network["Name"])
        return NetworkDisconnectEntry.of(
            info,
            network=str(network["Name"]),
            network_id=str(network["Id"]),
            connected=settings is not None,
            endpoint=_endpoint_config(info, settings) if settings is not None else {},
        )

    async def apply(
        self,
        ctx: FaultContext,
        engine: DockerEngine,
        entry: NetworkDisconnectEntry,
        info: dict[str, Any],
    ) -> NetworkDisconnectEntry:
        if _attachment(info, entry.network_id, entry.network) is None:
            ctx.log.info("docker.network_already_disconnected", container=entry.name)
            return entry
        force = params_as(ctx.params, NetworkDisconnectParams).force
        await engine.call(
            f"disconnect container {entry.name} from network {entry.network}",
            engine.api.disconnect_container_from_network,
            entry.id,
            entry.network_id,
            force=force,
        )
        ctx.log.info("docker.network_disconnected", container=entry.name, network=entry.network)
        return entry

    async def restore(
        self,
        ctx: FaultContext,
        engine: DockerEngine,
        entry: NetworkDisconnectEntry,
        found: Resolved,
    ) -> None:
        if not entry.connected:
            return
        if found.info is None:
            ctx.log.warning("docker.container_gone", container=entry.short, restored="nothing")
            return
        container_id = str(found.info["Id"])
        if _attachment(found.info, entry.network_id, entry.network) is not None:
            return
        body = {"Container": container_id, "EndpointConfig": entry.endpoint}
        what = f"reconnect container {entry.name} to network {entry.network}"
        try:
            await engine.post_json(what, "/networks/{0}/connect", entry.network_id, body)
        except EngineNotFound:
            # The network was re-created meanwhile: its successor has its name.
            try:
                await engine.post_json(what, "/networks/{0}/connect", entry.network, body)
            except EngineNotFound as exc:
                raise InjectorError(
                    f"cannot reconnect container {entry.short} to network {entry.network!r}: "
                    "the network is gone; re-create it and run "
                    f"docker network connect {entry.network} {entry.name}"
                ) from exc
        after = await engine.inspect_container(container_id)
        if _attachment(after, entry.network_id, entry.network) is None:
            raise InjectorError(
                f"container {entry.short} is still not attached to {entry.network!r} "
                "after reconnecting it"
            )
        ctx.log.info(
            "docker.network_reconnected",
            container=entry.name,
            network=entry.network,
            endpoint=entry.endpoint,
        )

    async def check(
        self,
        ctx: FaultContext,
        engine: DockerEngine,
        entry: NetworkDisconnectEntry,
        info: dict[str, Any],
    ) -> str | None:
        if _attachment(info, entry.network_id, entry.network) is None:
            return None
        return f"is still attached to network {entry.network!r}"
