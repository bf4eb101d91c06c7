"""chaoskit-process: faults on local processes — kill, stop, CPU and memory
pressure, cgroup memory and CPU limits — the ``process`` target kind and the
``process.alive``, ``process.rss`` and ``process.cpu`` probes, registered
through entry points.

One injector or probe per module. Selection is in ``_select``, helper
processes (burners, hogs, restarters) in ``_helpers`` and ``_worker``, cgroups
in ``_cgroup`` and ``_limits``.
"""

from chaoskit_process._base import ProcessRecord
from chaoskit_process._helpers import HELPER_MARK, Helper
from chaoskit_process._limits import CgroupState
from chaoskit_process._pressure import PressureState
from chaoskit_process._probe import ProbeParams
from chaoskit_process._restart import RESTART_ENV, RestartSpec
from chaoskit_process.alive import AliveExpect, AliveProbe
from chaoskit_process.cpu import CpuExpect, CpuParams, CpuProbe
from chaoskit_process.cpu_limit import CpuLimit, CpuLimitParams
from chaoskit_process.cpu_pressure import CpuPressure, CpuPressureParams
from chaoskit_process.kill import Kill, KillParams, KillState
from chaoskit_process.memory_limit import MemoryLimit, MemoryLimitParams
from chaoskit_process.memory_pressure import MemoryPressure, MemoryPressureParams
from chaoskit_process.rss import RssExpect, RssProbe
from chaoskit_process.stop import Stop, StopParams, StopState
from chaoskit_process.target import ProcessTarget

__all__ = [
    "HELPER_MARK",
    "RESTART_ENV",
    "AliveExpect",
    "AliveProbe",
    "CgroupState",
    "CpuExpect",
    "CpuLimit",
    "CpuLimitParams",
    "CpuParams",
    "CpuPressure",
    "CpuPressureParams",
    "CpuProbe",
    "Helper",
    "Kill",
    "KillParams",
    "KillState",
    "MemoryLimit",
    "MemoryLimitParams",
    "MemoryPressure",
    "MemoryPressureParams",
    "PressureState",
    "ProbeParams",
    "ProcessRecord",
    "ProcessTarget",
    "RestartSpec",
    "RssExpect",
    "RssProbe",
    "Stop",
    "StopParams",
    "StopState",
]
