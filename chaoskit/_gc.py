"""Keep the garbage collector's pauses off the probe schedule.

By the time a run starts sampling, the process holds every object start-up made
(modules, the experiment's models, the plugins' clients): tens of thousands, all
long-lived. A full collection during the run would walk them all again, a pause
of tens of milliseconds on the event loop that every due probe waits out.
"""

from __future__ import annotations

import gc

__all__ = ["release_heap", "settle_heap"]


def settle_heap() -> int:
    """Collect once now, then move every surviving object to the permanent
    generation, which later collections skip (:func:`gc.freeze`). A full
    collection during the run then costs in proportion to what the run itself
    allocated. Returns how many objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def release_heap() -> None:
    """Hand the frozen objects back to the collector (the run is over; a process
    that runs several experiments must not keep garbage frozen)."""
    gc.unfreeze()
