"""Hog processes inside a container, started and stopped through ``docker exec``.

A hog is a ``sh`` script run with the environment variable ``CHAOSKIT_HOG``
set to a marker unique to the fault (``<tag>.<kind>-hog``). Every process it
starts inherits that variable, so revert finds them all by reading
``/proc/*/environ`` inside the container, whatever their command lines, and
without matching itself (the marker is in the killer's arguments, in two
halves, never in its environment). The marker is also the script's ``$0``, so
``docker top`` shows it.

Each hog enforces its own time cap: a crashed run that is never rolled back
leaves nothing running past ``max_duration``. The scripts need only a POSIX
``sh`` with ``tr``, ``grep``, ``kill`` and ``sleep`` (and ``dd`` for memory),
as in Debian, Alpine and BusyBox images; images without a shell (distroless)
cannot take a pressure fault, which preflight reports.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
from pydantic import Field

from chaoskit import Duration, InjectorError, Params
from chaoskit_docker._client import DockerEngine

__all__ = [
    "CPU_HOG",
    "MEMORY_HOG",
    "HogParams",
    "hog_marker",
    "missing_tools",
    "shown_in_top",
    "start_hog",
    "stop_hog",
    "top",
]

ENV = "CHAOSKIT_HOG"
MAX_CAP = 24 * 3600.0
START_TIMEOUT = 5.0
"""How long a started hog may take to show in ``docker top``."""
START_POLL = 0.01

# $1 MiB to hold, $2 seconds cap. Each chunk is a `dd` that reads a block of
# zeros into its buffer (touching every page) and then blocks writing it to a
# pipe nobody reads; when `sleep` ends, dd dies of SIGPIPE. An OOM kill of one
# chunk leaves the others.
MEMORY_HOG = """
trap 'kill -9 $pids 2>/dev/null; wait; exit 0' TERM INT
pids=
left=$1
while [ "$left" -gt 0 ]; do
  n=$left
  [ "$n" -gt 32 ] && n=32
  dd if=/dev/zero bs=${n}M count=1 2>/dev/null | sleep "$2" &
  pids="$pids $!"
  left=$((left - n))
done
wait
"""

# $1 workers, $2 seconds cap. Each worker spins in the shell itself (no child
# processes) and reads /proc/uptime between bursts to stop at the cap.
CPU_HOG = """
read up _ < /proc/uptime
end=$((${up%.*} + $2))
pids=
n=0
while [ "$n" -lt "$1" ]; do
  (
    while :; do
      i=0
      while [ "$i" -lt 20000 ]; do i=$((i + 1)); done
      read up _ < /proc/uptime
      [ "${up%.*}" -ge "$end" ] && exit 0
    done
  ) &
  pids="$pids $!"
  n=$((n + 1))
done
trap 'kill -9 $pids 2>/dev/null; wait; exit 0' TERM INT
wait
"""

# $1$2: the marker, in two halves. TERM (the hog's trap reaps its children), then KILL what
# is left after 3 s. Exit 3 and the pids when something survives.
_KILL = """
pat="CHAOSKIT_HOG=$1$2"
found() {
  for d in /proc/[0-9]*; do
    { tr '\\0' '\\n' < "$d/environ" | grep -qxF "$pat"; } 2>/dev/null && echo "${d#/proc/}"
  done
}
pids=$(found)
[ -z "$pids" ] && exit 0
kill -TERM $pids 2>/dev/null
i=0
while [ "$i" -lt 60 ]; do
  pids=$(found)
  [ -z "$pids" ] && exit 0
  sleep 0.05
  i=$((i + 1))
done
kill -KILL $pids 2>/dev/null
sleep 0.2
pids=$(found)
[ -z "$pids" ] && exit 0
echo $pids
exit 3
"""

_TOOLS = """
for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || echo "$tool"; done
exit 0
"""


class HogParams(Params):
    max_duration: Duration = Field(
        default=600.0,
        gt=0,
        le=MAX_CAP,
        description="the hog stops itself after this long, even if the fault is never "
        "reverted (a crashed run); keep it above the fault's duration",
    )


def hog_marker(tag: str, kind: str) -> str:
    """The marker of the hog of one fault: the tag with only ``[A-Za-z0-9_.-]``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", tag) + f".{kind}-hog"


def _halves(marker: str) -> list[str]:
    middle = len(marker) // 2
    return [marker[:middle], marker[middle:]]


async def _run(
    engine: DockerEngine, container_id: str, what: str, script: str, args: list[str]
) -> tuple[int, str]:
    """Run ``sh -c script`` in the container, wait for it; (exit code, stdout)."""
    created = await engine.call(
        what,
        engine.api.exec_create,
        container_id,
        ["sh", "-c", script, "chaoskit", *args],
        stdout=True,
        stderr=True,
    )
    output = await engine.call(what, engine.api.exec_start, created["Id"], demux=True)
    stdout = (output[0] or b"").decode(errors="replace") if output else ""
    result = await engine.call(what, engine.api.exec_inspect, created["Id"], read_only=True)
    code = result.get("ExitCode")
    return (int(code) if code is not None else -1), stdout


async def missing_tools(
    engine: DockerEngine, container_id: str, name: str, tools: list[str]
) -> list[str]:
    """The tools of ``tools`` that ``sh`` cannot find in the container."""
    try:
        code, stdout = await _run(
            engine, container_id, f"look for {', '.join(tools)} in container {name}", _TOOLS, tools
        )
    except InjectorError as exc:
        raise InjectorError(
            f"cannot run sh in container {name} (a pressure fault needs a shell): {exc}"
        ) from exc
    if code != 0:
        raise InjectorError(
            f"container {name} has no working sh (exit code {code}); "
            "a pressure fault needs a shell in the container"
        )
    return stdout.split()


async def start_hog(
    engine: DockerEngine, container_id: str, name: str, marker: str, script: str, args: list[str]
) -> None:
    """Start the hog detached; return once ``docker top`` lists it (at most
    :data:`START_TIMEOUT`), which is how verify and revert see it.

    The exec counts as running before its process is visible to ``ps``: for a
    moment it is still runc's set-up, or its new command line reads empty
    (Linux fills it in just after exec). Returning at "running" let a verify
    right after the inject report "runs no hog" and abort a run."""
    what = f"start the hog {marker} in container {name}"
    created = await engine.call(
        what,
        engine.api.exec_create,
        container_id,
        ["sh", "-c", script, marker, *args],
        stdout=False,
        stderr=False,
        environment={ENV: marker},
    )
    await engine.call(what, engine.api.exec_start, created["Id"], detach=True)
    with anyio.move_on_after(START_TIMEOUT):
        while True:
            if shown_in_top(await top(engine, container_id, name), marker):
                return
            state = await engine.call(what, engine.api.exec_inspect, created["Id"], read_only=True)
            if not state.get("Running") and state.get("ExitCode") is not None:
                raise InjectorError(
                    f"the hog {marker} exited at once in container {name} "
                    f"(exit code {state['ExitCode']})"
                )
            await anyio.sleep(START_POLL)
    raise InjectorError(
        f"the hog {marker} did not show in `docker top` of container {name} "
        f"within {START_TIMEOUT:g}s"
    )


async def top(engine: DockerEngine, container_id: str, name: str) -> dict[str, Any]:
    """``docker top``: the host's ps of the container's processes."""
    listed: dict[str, Any] = await engine.call(
        f"list the processes of container {name}", engine.api.top, container_id, read_only=True
    )
    return listed


async def stop_hog(engine: DockerEngine, container_id: str, name: str, marker: str) -> None:
    """End every process of the hog; raise if some survive."""
    code, stdout = await _run(
        engine, container_id, f"stop the hog {marker} in container {name}", _KILL, _halves(marker)
    )
    if code != 0:
        raise InjectorError(
            f"hog {marker} processes survive in container {name} (pids {stdout.strip()}, "
            f"exit code {code}); kill them by hand: docker exec {name} kill -9 PID"
        )


def shown_in_top(top: dict[str, Any], marker: str) -> bool:
    """Whether ``docker top`` (the host's ps) lists a process with the marker."""
    return any(marker in " ".join(str(cell) for cell in row) for row in top.get("Processes") or [])
