"""Containers and networks for the Docker family's tests, made with the Docker
SDK directly (nothing shared with the code under test).

Everything is labelled ``chaoskit.test=<unique>`` and removed by that label;
ports are published on 127.0.0.1 only; containers join networks the tests
create. The image is a tiny BusyBox built locally from Debian's
``busybox-static`` (there is no registry to pull from).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import os
import tarfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

__all__ = [
    "IMAGE",
    "LABEL",
    "Container",
    "Lab",
    "ensure_image",
    "labelled_leftovers",
    "remove_labelled",
    "wait_until",
]

IMAGE = "chaoskit-test/busybox:local"
LABEL = "chaoskit.test"
BUSYBOX = "/bin/busybox"
_APPLETS = [
    *("sh", "cat", "dd", "echo", "env", "grep", "head", "httpd", "kill", "ls", "ps"),
    *("sleep", "tail", "top", "tr", "true", "wc", "wget", "yes", "cut", "seq", "id"),
]
HTTPD = ["sh", "-c", "echo ok > /www/health && exec httpd -f -p 80 -h /www"]


def ensure_image(client: Any) -> str:
    """The test image, imported from /bin/busybox (busybox-static) if missing."""
    try:
        client.images.get(IMAGE)
        return IMAGE
    except docker.errors.ImageNotFound:
        pass
    with open(BUSYBOX, "rb") as binary:
        head = binary.read(64 * 1024)
    if b"ld-linux" in head or b"/lib64/" in head:
        raise RuntimeError(f"{BUSYBOX} is dynamically linked: install busybox-static")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("bin", "tmp", "www", "proc", "sys", "dev", "etc"):
            entry = tarfile.TarInfo(folder)
            entry.type, entry.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(entry)
        tar.add(BUSYBOX, arcname="bin/busybox")
        for applet in _APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    repository, tag = IMAGE.split(":")
    client.api.import_image_from_data(
        buffer.getvalue(), repository=repository, tag=tag, changes=["ENV PATH=/bin"]
    )
    return IMAGE


def wait_until(check: Callable[[], bool], what: str, *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(0.05)


def labelled_leftovers(client: Any, value: str) -> tuple[list[str], list[str]]:
    """Names of containers and networks still labelled ``chaoskit.test=value``."""
    filters = {"label": f"{LABEL}={value}"}
    containers = [c.name for c in client.containers.list(all=True, filters=filters)]
    networks = [n.name for n in client.networks.list(filters=filters)]
    return containers, networks


def remove_labelled(client: Any, value: str) -> None:
    filters = {"label": f"{LABEL}={value}"}
    for container in client.containers.list(all=True, filters=filters):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
    for network in client.networks.list(filters=filters):
        with contextlib.suppress(docker.errors.NotFound):
            network.remove()


@dataclass
class Container:
    """A test container: its id, name and the 127.0.0.1 port its httpd is published on."""

    client: Any
    id: str
    name: str
    port: int | None

    def inspect(self) -> dict[str, Any]:
        info: dict[str, Any] = self.client.api.inspect_container(self.id)
        return info

    def host_config(self) -> dict[str, Any]:
        config: dict[str, Any] = self.inspect()["HostConfig"]
        return config

    def status(self) -> str:
        return str(self.inspect()["State"]["Status"])

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.client.api.stats(self.id, stream=False, one_shot=True)
        return stats

    def top(self) -> list[str]:
        """Command lines of its processes, from the host's ps (docker top)."""
        found = self.client.api.top(self.id)
        index = found["Titles"].index("CMD")
        return [str(row[index]) for row in found.get("Processes") or []]

    def exec(self, *command: str) -> tuple[int, str]:
        result = self.client.api.exec_create(self.id, list(command))
        output = self.client.api.exec_start(result["Id"]).decode(errors="replace")
        code = self.client.api.exec_inspect(result["Id"])["ExitCode"]
        return int(code), output

    def cgroup(self, controller: str, name: str) -> str:
        """A cgroup v1 file of the container, read on the host (an independent view)."""
        with open(f"/sys/fs/cgroup/{controller}/docker/{self.id}/{name}") as file:
            return file.read().strip()


class Lab:
    """Creates labelled containers and networks; ``cleanup`` removes them all."""

    def __init__(self, client: Any, image: str, value: str | None = None) -> None:
        self.client = client
        self.image = image
        self.value = value or f"t{uuid.uuid4().hex[:10]}"
        self._network: str | None = None

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL: self.value}

    def network(self, *, subnet: str | None = None) -> str:
        name = f"chaoskit-test-{self.value}-{uuid.uuid4().hex[:4]}"
        ipam = None
        if subnet is not None:
            pool = docker.types.IPAMPool(subnet=subnet)
            ipam = docker.types.IPAMConfig(pool_configs=[pool])
        self.client.networks.create(name, labels=self.labels, ipam=ipam, check_duplicate=True)
        return name

    def default_network(self) -> str:
        if self._network is None:
            self._network = self.network()
        return self._network

    def container(
        self,
        name: str | None = None,
        *,
        command: list[str] | None = None,
        publish: bool = True,
        labels: dict[str, str] | None = None,
        network: str | None = None,
        **kwargs: Any,
    ) -> Container:
        """A running container (httpd on port 80 unless ``command``), published
        on a random 127.0.0.1 port."""
        name = name or f"chaoskit-test-{self.value}-{uuid.uuid4().hex[:6]}"
        created = self.client.containers.run(
            self.image,
            command or HTTPD,
            name=name,
            detach=True,
            labels={**self.labels, **(labels or {})},
            network=network or self.default_network(),
            ports={"80/tcp": ("127.0.0.1", None)} if publish else None,
            **kwargs,
        )
        port = None
        if publish:
            wait_until(
                lambda: bool(_published(self.client, created.id)), f"{name}'s port to be published"
            )
            port = _published(self.client, created.id)
            if command is None:
                serving = port
                wait_until(lambda: _serves(serving), f"{name}'s httpd to answer")
        return Container(self.client, created.id, name, port)

    def cleanup(self) -> None:
        remove_labelled(self.client, self.value)

    def leftovers(self) -> tuple[list[str], list[str]]:
        return labelled_leftovers(self.client, self.value)


def _serves(port: int | None) -> bool:
    if port is None:
        return False
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _published(client: Any, container_id: str) -> int | None:
    ports = client.api.inspect_container(container_id)["NetworkSettings"]["Ports"] or {}
    bindings = ports.get("80/tcp") or []
    for binding in bindings:
        if binding.get("HostIp") == "127.0.0.1" and binding.get("HostPort"):
            return int(binding["HostPort"])
    return None


def docker_client() -> Any:
    return docker.from_env(timeout=30, environment=dict(os.environ))
