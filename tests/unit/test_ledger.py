"""The write ledger's file round-trips every id, and the audit classifies
every write (DESIGN.md §5) whatever the batch boundaries. The lookup here is a
fake that answers from a dict; the real lookups are tested against PostgreSQL
and HTTP in tests/integration."""

from __future__ import annotations

import random
from pathlib import Path
from typing import ClassVar

import pytest

from chaoskit._audit import audit_writes
from chaoskit._errors import ChaoskitError
from chaoskit._ledger import WriteLedger
from chaoskit._load_model import LookupSpec
from chaoskit._plugin_api import LookupContext, Params, WriteOutcome
from chaoskit._resources import RunResources

pytestmark = pytest.mark.anyio

AWKWARD_IDS = [
    "plain-1",
    "with\ttab",
    "with\nnewline",
    "with\rreturn",
    '"starts-with-quote',
    'ends-with-quote"',
    "back\\slash",
    "ünïcødé-✓",
    "",
    " spaced ",
    "trailing-tab\t",
    "line\u2028separator\x0bvt",
]


def test_every_id_comes_back_exactly(tmp_path: Path) -> None:
    ledger = WriteLedger(tmp_path / "writes-s.tsv")
    outcomes: list[WriteOutcome] = ["acknowledged", "failed", "indeterminate"]
    written = [(wid, outcomes[i % 3]) for i, wid in enumerate(AWKWARD_IDS)]
    for i, (wid, outcome) in enumerate(written):
        ledger.record(wid, outcome, i / 7, 201 if i % 2 else None)
    read = [
        pair for batch in ledger.batches(4) for pair in zip(batch.ids, batch.outcomes, strict=True)
    ]
    assert read == written
    assert ledger.counts == {"acknowledged": 4, "failed": 4, "indeterminate": 4}
    # one line per write, whatever the id holds
    text = (tmp_path / "writes-s.tsv").read_text(encoding="utf-8")
    assert text.count("\n") == len(written)


def test_batches_have_the_size_asked(tmp_path: Path) -> None:
    ledger = WriteLedger(tmp_path / "w.tsv")
    for i in range(10):
        ledger.record(f"w-{i}", "acknowledged", 0.0, 200)
    assert [len(batch.ids) for batch in ledger.batches(4)] == [4, 4, 2]


def test_a_damaged_line_is_named(tmp_path: Path) -> None:
    ledger = WriteLedger(tmp_path / "w.tsv")
    ledger.record("w-1", "acknowledged", 0.0, 200)
    ledger.close()
    with (tmp_path / "w.tsv").open("a", encoding="utf-8") as damaged:
        damaged.write("x\tnot a record\n")
    with pytest.raises(ChaoskitError, match=r"w\.tsv:2: not a write record"):
        list(ledger.batches(10))


class _Params(Params):
    pass


class DictLookup:
    """Answers from a dict of id -> copies; ids missing from it are unverified."""

    name: ClassVar[str] = "dict"
    params: ClassVar[type[Params]] = _Params
    counts_copies: ClassVar[bool] = True

    def __init__(self, copies: dict[str, int]) -> None:
        self.copies = copies
        self.calls = 0

    async def find(self, ctx: LookupContext, ids: list[str]) -> dict[str, int]:
        self.calls += 1
        return {wid: self.copies[wid] for wid in ids if wid in self.copies}


@pytest.mark.parametrize("batch", [1, 7, 1000, 100_000])
async def test_the_audit_classifies_every_write(tmp_path: Path, batch: int) -> None:
    rng = random.Random(batch)
    ledger = WriteLedger(tmp_path / "w.tsv")
    copies: dict[str, int] = {}
    truth = dict.fromkeys(
        ["acknowledged", "failed", "indeterminate", "lost", "phantom", "duplicated",
         "indeterminate_present", "indeterminate_absent", "unverified"], 0,
    )  # fmt: skip
    lost: list[str] = []
    for seq in range(5_000):
        wid = f"w-{seq}"
        outcome: WriteOutcome = rng.choice(["acknowledged"] * 8 + ["failed", "indeterminate"])
        ledger.record(wid, outcome, seq / 100, None)
        truth[outcome] += 1
        fate = rng.choice(["present"] * 6 + ["absent", "twice", "unknown"])
        if fate == "unknown":
            truth["unverified"] += 1
            continue
        copies[wid] = {"present": 1, "absent": 0, "twice": 2}[fate]
        truth["duplicated"] += fate == "twice"
        if outcome == "acknowledged" and fate == "absent":
            truth["lost"] += 1
            lost.append(wid)
        elif outcome == "failed" and fate != "absent":
            truth["phantom"] += 1
        elif outcome == "indeterminate":
            truth["indeterminate_present" if fate != "absent" else "indeterminate_absent"] += 1
    lookup = DictLookup(copies)
    spec = LookupSpec(kind_params=_Params(), batch=batch)
    loss = await audit_writes("s", ledger, spec, lookup, {}, RunResources())
    found = {key: getattr(loss, key) for key in truth}
    assert found == truth
    assert loss.writes == 5_000
    assert loss.lost_ids == lost[:20]
    assert loss.data_loss_rate == round(truth["lost"] / truth["acknowledged"], 9)
    assert lookup.calls == -(-5_000 // batch)
