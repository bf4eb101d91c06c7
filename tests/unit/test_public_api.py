"""The public surface: every public name resolves, every module has __all__;
chaoskit.testing resolves without pytest, encodes like the journal and reports
failed reverts."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import chaoskit
from chaoskit import FaultContext, InjectorError, JsonValue, Params, TargetSpec


def test_every_public_name_resolves() -> None:
    for name in chaoskit.__all__:
        assert getattr(chaoskit, name) is not None


def test_every_module_declares_all() -> None:
    missing = []
    for info in pkgutil.walk_packages(chaoskit.__path__, "chaoskit."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        if not hasattr(module, "__all__"):
            missing.append(info.name)
    assert missing == []


def test_help_does_not_import_pydantic() -> None:
    import subprocess
    import sys

    code = (
        "import sys, contextlib, io\n"
        "from chaoskit.cli import _parser\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    _parser().format_help()\n"
        "print('pydantic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_testing_name_resolves() -> None:
    import chaoskit.testing

    for name in chaoskit.testing.__all__:
        assert getattr(chaoskit.testing, name) is not None
    assert "chaoskit.testing" in {
        info.name for info in pkgutil.walk_packages(chaoskit.__path__, "chaoskit.")
    }


def test_testing_does_not_import_pytest_until_the_contract_is_asked_for() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import chaoskit.testing\n"
        "print('pytest' in sys.modules)\n"
        "chaoskit.testing.InjectorContract\n"
        "print('pytest' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_journal_roundtrip_is_what_the_journal_gives_back(tmp_path: Path) -> None:
    from chaoskit._events import FaultInjected, as_json
    from chaoskit._journal import Journal, read_journal
    from chaoskit._secrets import Secrets
    from chaoskit.testing import RevertStateNotJson, journal_roundtrip

    state = {"pids": (1, 2), "by_id": {3: "x"}, "ratio": 0.5, "none": None}
    journal = Journal(tmp_path / "journal.jsonl", Secrets(), 0.0)
    journal.append(FaultInjected(fault="f", iteration=1, revert_state=as_json(state)))
    journal.close()
    [record] = read_journal(tmp_path / "journal.jsonl")

    assert isinstance(record, FaultInjected)
    assert journal_roundtrip(state) == record.revert_state
    assert journal_roundtrip(state) == {
        "pids": [1, 2],
        "by_id": {"3": "x"},
        "ratio": 0.5,
        "none": None,
    }
    with pytest.raises(RevertStateNotJson, match="not JSON"):
        journal_roundtrip({"pids": {1, 2}})  # type: ignore[dict-item]


class _FlakyFlag:
    """A fake injector (a flag in a dict of this module) whose revert fails on purpose."""

    name = "fake.flaky_flag"
    params = Params
    target_kinds = ("fake.anything",)

    async def preflight(self, ctx: FaultContext) -> None:
        return None

    async def prepare(self, ctx: FaultContext) -> JsonValue:
        return {"flag": ctx.tag}

    async def inject(self, ctx: FaultContext, revert_state: JsonValue) -> JsonValue:
        _FLAGS[ctx.tag] = True
        return revert_state

    async def revert(self, ctx: FaultContext, revert_state: JsonValue) -> None:
        raise InjectorError(f"cannot lower {ctx.tag}")


_FLAGS: dict[str, bool] = {}


@pytest.mark.anyio
async def test_a_tracker_reports_every_revert_that_failed() -> None:
    from chaoskit.testing import FaultTracker, RevertsFailed

    target = TargetSpec(kind="fake.anything")
    faults = FaultTracker(run_id="r")
    first = await faults.apply(_FlakyFlag(), target)
    second = await faults.prepare(_FlakyFlag(), target)  # never injected: reverted too
    with pytest.raises(RevertsFailed) as raised:
        await faults.revert_all()
    assert (first.tag, second.tag) == ("chaoskit-r-f", "chaoskit-r-f2")
    assert [str(exc) for exc in raised.value.exceptions] == [
        "cannot lower chaoskit-r-f2",
        "cannot lower chaoskit-r-f",
    ]
    assert "2 fault(s) left applied" in str(raised.value)
    assert "fake.flaky_flag on 'target' (tag chaoskit-r-f)" in str(raised.value)
