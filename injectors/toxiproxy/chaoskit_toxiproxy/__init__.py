"""chaoskit-toxiproxy: Toxiproxy faults, the ``toxiproxy.proxy`` and
``toxiproxy.proxies`` target kinds and the ``toxiproxy.proxy_state`` probe,
registered through entry points; ``proxy_setup`` creates a target's missing
proxy for the run and deletes it afterwards.

One toxic per module, all sharing the lifecycle in ``_base``; the async client
of the Toxiproxy API is in ``_client``.
"""

from chaoskit_toxiproxy._base import ProxyRevertState, ToxicParams
from chaoskit_toxiproxy._client import (
    Proxy,
    ProxyAlreadyExists,
    ProxyNotFound,
    Toxic,
    ToxicAlreadyExists,
    ToxicNotFound,
    ToxiproxyApiError,
    ToxiproxyClient,
)
from chaoskit_toxiproxy.bandwidth import Bandwidth, BandwidthParams
from chaoskit_toxiproxy.down import Down, DownParams
from chaoskit_toxiproxy.latency import Latency, LatencyParams
from chaoskit_toxiproxy.limit_data import LimitData, LimitDataParams
from chaoskit_toxiproxy.partition import Partition, PartitionParams, PartitionRevertState
from chaoskit_toxiproxy.proxies_target import ProxiesTarget
from chaoskit_toxiproxy.proxy_setup import ProxySetup, ProxySetupState
from chaoskit_toxiproxy.proxy_state import ProxyStateExpect, ProxyStateParams, ProxyStateProbe
from chaoskit_toxiproxy.reset_peer import ResetPeer, ResetPeerParams
from chaoskit_toxiproxy.slicer import Slicer, SlicerParams
from chaoskit_toxiproxy.slow_close import SlowClose, SlowCloseParams
from chaoskit_toxiproxy.target import ProxyTarget
from chaoskit_toxiproxy.timeout import Timeout, TimeoutParams

__all__ = [
    "Bandwidth",
    "BandwidthParams",
    "Down",
    "DownParams",
    "Latency",
    "LatencyParams",
    "LimitData",
    "LimitDataParams",
    "Partition",
    "PartitionParams",
    "PartitionRevertState",
    "ProxiesTarget",
    "Proxy",
    "ProxyAlreadyExists",
    "ProxyNotFound",
    "ProxyRevertState",
    "ProxySetup",
    "ProxySetupState",
    "ProxyStateExpect",
    "ProxyStateParams",
    "ProxyStateProbe",
    "ProxyTarget",
    "ResetPeer",
    "ResetPeerParams",
    "Slicer",
    "SlicerParams",
    "SlowClose",
    "SlowCloseParams",
    "Timeout",
    "TimeoutParams",
    "Toxic",
    "ToxicAlreadyExists",
    "ToxicNotFound",
    "ToxicParams",
    "ToxiproxyApiError",
    "ToxiproxyClient",
]
