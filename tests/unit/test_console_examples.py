"""Every console example in the docs is what the CLI prints now (docs/console.py),
and the checker itself finds stale blocks, rewrites them and cleans up after them."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_console() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_console", ROOT / "docs" / "console.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


console = _load_console()
PAGES = console.default_pages()


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_console_examples_are_current(page: Path) -> None:
    outcomes = console.check_pages([page])
    stale = [outcome.diff() for outcome in outcomes if outcome.stale]
    assert not stale, (
        "console examples differ from what the CLI prints; if the change is intended, run "
        "`uv run python docs/console.py --update`:\n\n" + "\n\n".join(stale)
    )


def test_the_user_guide_checks_the_commands_it_documents() -> None:
    """The examples the guide promises are there, and checked (not merely shown)."""
    guide = ROOT / "docs" / "user-guide.md"
    commands = [
        step.script
        for block in console.find_blocks(guide, guide.read_text("utf-8"))
        for step in block.steps
    ]
    for expected in [
        "chaoskit --help",
        "chaoskit plugins",
        "chaoskit validate experiments/*.yaml",
        "chaoskit validate docs/examples/broken.yaml",
        "chaoskit run experiments/http_latency.yaml --dry-run",
        "chaoskit run docs/examples/frozen_worker.yaml 2>run.log",
        "chaoskit rollback .chaoskit/runs/*",
        "chaoskit run --help",
        "chaoskit rollback --help",
        "chaoskit lab --help",
    ]:
        assert expected in commands, f"the user guide no longer runs {expected!r}"


def _page(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(text, "utf-8")
    return page


def test_a_stale_block_is_reported_and_update_rewrites_it(tmp_path: Path) -> None:
    page = _page(
        tmp_path,
        "text\n\n<!-- console -->\n```console\n$ echo hello\nbye\n$ sh -c 'echo oops >&2; exit 3'\n"
        "```\n\nmore text\n",
    )
    assert console.main(["--check", str(page)]) == 1
    assert console.main(["--update", str(page)]) == 0
    assert page.read_text("utf-8") == (
        "text\n\n<!-- console -->\n```console\n$ echo hello\nhello\n"
        "$ sh -c 'echo oops >&2; exit 3'\noops\n[exit 3]\n```\n\nmore text\n"
    )
    assert console.main(["--check", str(page)]) == 0


def test_commands_share_one_shell_in_a_fresh_directory(tmp_path: Path) -> None:
    page = _page(
        tmp_path,
        "<!-- console -->\n```console\n$ name=chaoskit; ls\n$ echo $name \\\n  again\n```\n",
    )
    [outcome] = console.check_pages([page])
    assert outcome.fresh is not None
    assert [step.output for step in outcome.fresh] == [["docs", "experiments"], ["chaoskit again"]]


def test_background_jobs_end_with_their_block(tmp_path: Path) -> None:
    page = _page(tmp_path, "<!-- console -->\n```console\n$ sleep 60 & echo $!\n```\n")
    [outcome] = console.check_pages([page])
    assert outcome.fresh is not None
    pid = int(outcome.fresh[0].output[0])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.05)
    assert not _running(pid)


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_volatile_parts_are_compared_as_placeholders() -> None:
    timing = console.Options(timing=True)
    recorded = [
        "  duration    5.85s   baseline steady: ok",
        "  MTTR        3.01s  (resolution 427ms)",
        "    worker-running       target      29 samples   15 failed",
        "  expect      mttr < 6s: measured 3.014904 → ok",
        "  run dir     .chaoskit/runs/20261203T125616Z-a-worker-frozen-6dca72  ",
    ]
    fresh = [
        "  duration    6.02s   baseline steady: ok",
        "  MTTR        2.99s  (resolution 1.10s)",
        "    worker-running       target     101 samples    9 failed",
        "  expect      mttr < 6s: measured 2.990001 → ok",
        "  run dir     .chaoskit/runs/20261204T010203Z-a-worker-frozen-0a1b2c",
    ]
    assert console.normalise(recorded, timing) == console.normalise(fresh, timing)
    exact = console.Options()
    assert console.normalise(recorded[-1:], exact) == console.normalise(fresh[-1:], exact)
    assert console.normalise(recorded[:1], exact) != console.normalise(fresh[:1], exact)
    assert console.normalise(["  verdict     PASSED"], timing) != console.normalise(
        ["  verdict     FAILED"], timing
    )
    # a bound is written in the experiment, not measured: it must match
    assert console.normalise(["  expect      mttr < 5s: measured 3.1"], timing) != (
        console.normalise(["  expect      mttr < 6s: measured 3.1"], timing)
    )


def test_unmarked_console_fences_are_refused_and_examples_of_markup_are_text(
    tmp_path: Path,
) -> None:
    with pytest.raises(console.ConsoleError, match="without a <!-- console --> marker"):
        console.find_blocks(tmp_path / "a.md", "```console\n$ true\n```\n")
    quoted = "````markdown\n<!-- console -->\n```console\n$ true\n```\n````\n"
    assert console.find_blocks(tmp_path / "b.md", quoted) == []
    with pytest.raises(console.ConsoleError, match="unknown console option"):
        console.find_blocks(tmp_path / "c.md", "<!-- console: fast -->\n```console\n$ true\n```\n")


def test_lab_blocks_run_only_when_asked(tmp_path: Path) -> None:
    page = _page(tmp_path, "<!-- console: lab -->\n```console\n$ echo recorded elsewhere\n```\n")
    [outcome] = console.check_pages([page])
    assert outcome.fresh is None
    assert not outcome.stale


def test_the_checker_leaves_no_chaoskit_variables_to_the_examples(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHAOSKIT_LAB_RUNTIME", "docker")
    env = console._environment(console.Options())
    assert "CHAOSKIT_LAB_RUNTIME" not in env
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)


def test_update_refuses_a_page_edited_while_its_examples_ran(tmp_path: Path) -> None:
    page = _page(tmp_path, "<!-- console -->\n```console\n$ echo new\nold\n```\n")
    outcomes = console.check_pages([page])
    page.write_text("an edit\n\n" + page.read_text("utf-8"), "utf-8")
    with pytest.raises(console.ConsoleError, match="changed while its examples ran"):
        console.update_page(page, outcomes)
    assert page.read_text("utf-8").startswith("an edit\n")
