"""The fresh process of :meth:`chaoskit.testing.AppliedFault.revert_in_fresh_process`.

``python -m chaoskit._testing_revert`` reads one JSON document on stdin — the
injector's and the target's classes as ``module:qualname``, the target and the
params as the journal records them, the run id, the fault's and the target's
names and the revert state — and reverts the fault the way ``chaoskit
rollback`` does: a new instance of the injector, a context rebuilt from that
JSON alone (target and params validated again, no ``extra``, no duration),
one ``revert``. Exit 0 when it returned; a traceback and exit 1 otherwise.
"""

from __future__ import annotations

import json
import sys
from importlib import import_module
from typing import Any

import anyio
import structlog

from chaoskit._plugin_api import FaultContext, Injector, TargetSpec

__all__ = ["main"]


def _load(path: str) -> Any:
    module_name, _, qualname = path.partition(":")
    found: Any = import_module(module_name)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def main() -> int:
    spec = json.loads(sys.stdin.read())
    injector: Injector = _load(spec["injector"])()
    target_class: type[TargetSpec] = _load(spec["target_class"])
    ctx = FaultContext(
        run_id=spec["run_id"],
        fault_name=spec["fault_name"],
        target_name=spec["target_name"],
        target=target_class.model_validate(spec["target"]),
        params=injector.params.model_validate(spec["params"] or {}),
        log=structlog.get_logger("chaoskit.testing").bind(
            fault=spec["fault_name"], injector=injector.name, by="fresh-process"
        ),
    )
    anyio.run(injector.revert, ctx, spec["revert_state"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
