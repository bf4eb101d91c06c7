"""The data-loss audit: after recovery, look up every write in the ledger and
classify it (DESIGN.md §5): *lost* = acknowledged and absent; also
indeterminate-and-present, indeterminate-and-absent, *phantom* = failed but
present. A lookup that gives no answer leaves the write *unverified*."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Literal

import anyio

from chaoskit._ledger import WriteLedger, WriteRecord
from chaoskit._load_model import LookupSpec
from chaoskit._plugin_api import Resources
from chaoskit._results import DataLoss
from chaoskit._templates import Template

__all__ = ["audit_http"]

Presence = Literal["present", "absent", "unknown"]
_BATCH = 5_000
_LOST_IDS_KEPT = 20


async def audit_http(
    stream: str, ledger: WriteLedger, lookup: LookupSpec, resources: Resources
) -> DataLoss:
    started = time.monotonic()
    session = await resources.get("audit.http.session", _session)
    url = Template(lookup.url)
    tally: Counter[str] = Counter()
    lost_ids: list[str] = []
    for batch in ledger.batches(_BATCH):
        presence = await _look_up(session, url, lookup, stream, batch)
        for (write_id, outcome), found in zip(batch, presence, strict=True):
            tally[outcome] += 1
            tally[f"{outcome}:{found}"] += 1
            if outcome == "acknowledged" and found == "absent" and len(lost_ids) < _LOST_IDS_KEPT:
                lost_ids.append(write_id)
    acknowledged = tally["acknowledged"]
    lost = tally["acknowledged:absent"]
    return DataLoss(
        stream=stream,
        writes=sum(tally[o] for o in ("acknowledged", "failed", "indeterminate")),
        acknowledged=acknowledged,
        failed=tally["failed"],
        indeterminate=tally["indeterminate"],
        lost=lost,
        indeterminate_present=tally["indeterminate:present"],
        indeterminate_absent=tally["indeterminate:absent"],
        phantom=tally["failed:present"],
        duplicated=None,
        unverified=sum(tally[f"{o}:unknown"] for o in ("acknowledged", "failed", "indeterminate")),
        data_loss_rate=round(lost / acknowledged, 9) if acknowledged else 0.0,
        lost_ids=lost_ids,
        audit_seconds=round(time.monotonic() - started, 3),
    )


async def _look_up(
    session: Any, url: Template, lookup: LookupSpec, stream: str, batch: list[WriteRecord]
) -> list[Presence]:
    import aiohttp

    found: list[Presence] = ["unknown"] * len(batch)
    cursor = iter(range(len(batch)))
    timeout = aiohttp.ClientTimeout(total=lookup.timeout)

    async def worker() -> None:
        for index in cursor:  # shared iterator: each index is taken once
            target = url.render(batch[index][0], index, stream)
            try:
                async with session.get(target, timeout=timeout) as response:
                    await response.read()
                    status = response.status
            except (TimeoutError, aiohttp.ClientError, OSError):
                continue
            if status in lookup.present_if:
                found[index] = "present"
            elif status in lookup.absent_if:
                found[index] = "absent"

    async with anyio.create_task_group() as group:
        for _ in range(min(lookup.concurrency, len(batch))):
            group.start_soon(worker)
    return found


def _session() -> Any:
    import aiohttp

    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), trust_env=False)
