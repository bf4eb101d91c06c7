"""chaoskit-docker: container faults, the ``docker.container`` target kind and
four probes, registered through entry points.

One injector per module; the per-container lifecycle they share is in
``_base``, selection and re-resolution of containers in ``_select``, the
blocking Docker SDK behind an async face in ``_client``, and the in-container
hog processes of the pressure faults in ``_hog``.
"""

from chaoskit_docker._base import DockerState
from chaoskit_docker._client import DockerEngine, EngineConflict, EngineNotFound, open_engine
from chaoskit_docker._select import ContainerRef
from chaoskit_docker.cpu_limit import CpuLimit, CpuLimitEntry, CpuLimitParams
from chaoskit_docker.cpu_pressure import CpuPressure, CpuPressureParams
from chaoskit_docker.kill import Kill, KillEntry, KillParams
from chaoskit_docker.memory_limit import NO_LIMIT, MemoryLimit, MemoryLimitEntry, MemoryLimitParams
from chaoskit_docker.memory_pressure import MemoryPressure, MemoryPressureParams
from chaoskit_docker.network_disconnect import (
    NetworkDisconnect,
    NetworkDisconnectEntry,
    NetworkDisconnectParams,
)
from chaoskit_docker.pause import Pause, PauseEntry, PauseParams
from chaoskit_docker.probe_cpu import CpuExpect, CpuParams, CpuProbe
from chaoskit_docker.probe_memory import MemoryExpect, MemoryParams, MemoryProbe
from chaoskit_docker.probe_restarts import RestartsExpect, RestartsParams, RestartsProbe
from chaoskit_docker.probe_state import StateExpect, StateParams, StateProbe
from chaoskit_docker.restart import Restart, RestartParams
from chaoskit_docker.stop import Stop, StopParams
from chaoskit_docker.target import ContainerTarget

__all__ = [
    "NO_LIMIT",
    "ContainerRef",
    "ContainerTarget",
    "CpuExpect",
    "CpuLimit",
    "CpuLimitEntry",
    "CpuLimitParams",
    "CpuParams",
    "CpuPressure",
    "CpuPressureParams",
    "CpuProbe",
    "DockerEngine",
    "DockerState",
    "EngineConflict",
    "EngineNotFound",
    "Kill",
    "KillEntry",
    "KillParams",
    "MemoryExpect",
    "MemoryLimit",
    "MemoryLimitEntry",
    "MemoryLimitParams",
    "MemoryParams",
    "MemoryPressure",
    "MemoryPressureParams",
    "MemoryProbe",
    "NetworkDisconnect",
    "NetworkDisconnectEntry",
    "NetworkDisconnectParams",
    "Pause",
    "PauseEntry",
    "PauseParams",
    "Restart",
    "RestartParams",
    "RestartsExpect",
    "RestartsParams",
    "RestartsProbe",
    "StateExpect",
    "StateParams",
    "StateProbe",
    "Stop",
    "StopParams",
    "open_engine",
]
