"""Hostile documents are refused where they go wrong, before they cost anything:
alias bombs, deep nesting, self-reference, huge files, several documents.

No wall-clock thresholds here (bench/hostile_yaml.py has the figures): what proves
that a limit works is that the loader stopped counting at it, and that refusing
the largest bomb allocated almost nothing."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from chaoskit_cli import run_chaoskit

from chaoskit import ExperimentInvalid
from chaoskit._loader import load_experiment, parse_experiment
from chaoskit._registry import discover
from chaoskit._yamllimits import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    MAX_NODES,
    LimitedLoader,
    LimitExceeded,
)
from chaoskit._yamlpos import YamlError, load_with_positions

REGISTRY = discover()
LOCATED = re.compile(r"^x\.yaml:(\d+):(\d+): ")
NODES_MESSAGE = f"document expands to more than {MAX_NODES} nodes here"
DEPTH_MESSAGE = f"document nests more than {MAX_DEPTH} levels deep here"


def alias_bomb(levels: int, fan_out: int = 9) -> str:
    """The "billion laughs": each level a list of ``fan_out`` aliases to the one before."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * fan_out)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan_out)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def expanded_nodes(levels: int, fan_out: int = 9) -> int:
    """What ``alias_bomb`` would expand to: the root, each key, each level in full."""
    total, level = 1 + levels, 1 + fan_out
    for _ in range(levels):
        total += level
        level = 1 + fan_out * level
    return total


def problems(text: str) -> list[str]:
    with pytest.raises(ExperimentInvalid) as caught:
        parse_experiment(text, "x.yaml", REGISTRY)
    found = caught.value.problems
    assert found
    assert all(LOCATED.match(line) for line in found), found
    return found


@pytest.mark.parametrize("levels", range(3, 13))
def test_alias_bombs_are_refused_where_they_pass_the_limit(levels: int) -> None:
    found = problems(alias_bomb(levels))
    if expanded_nodes(levels) <= MAX_NODES:
        # small enough to load: refused for what it is, an experiment without fields
        assert any("missing required field 'version'" in line for line in found), found
        return
    [problem] = found
    assert NODES_MESSAGE in problem
    assert f"expected at most {MAX_NODES}" in problem
    line = int(LOCATED.match(problem)[1])  # type: ignore[index]
    # the first level whose expansion no longer fits
    first_over = next(n for n in range(1, 13) if expanded_nodes(n) > MAX_NODES)
    assert line == first_over


@pytest.mark.parametrize("levels", [5, 9, 12])
def test_the_node_count_stops_at_the_limit(levels: int) -> None:
    loader = LimitedLoader(alias_bomb(levels))
    try:
        with pytest.raises(LimitExceeded):
            loader.get_single_node()
        assert 0 < loader.expanded_nodes <= MAX_NODES
    finally:
        loader.dispose()


def test_refusing_the_largest_bomb_allocates_almost_nothing() -> None:
    text = alias_bomb(12)  # 9**12 expanded values: terabytes if anything expanded them
    tracemalloc.start()
    try:
        with pytest.raises(ExperimentInvalid):
            parse_experiment(text, "x.yaml", REGISTRY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 2**20


def test_merge_keys_count_what_they_merge() -> None:
    lines = ["m0: &m0 {k0: 1, k1: 2, k2: 3, k3: 4, k4: 5, k5: 6, k6: 7, k7: 8, k8: 9}"]
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 9)}]}}" for i in range(1, 9)]
    [problem] = problems("\n".join(lines) + "\n")
    assert NODES_MESSAGE in problem


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param("version: 1\ntitle: " + "[" * 100_000, (2, 8 + MAX_DEPTH - 1), id="flow"),
        pytest.param(
            "version: 1\ntitle:\n"
            + "".join(f"{'  ' * i}- \n" for i in range(1, 200))
            + "  " * 200
            + "- x\n",
            # the sequence on line 2 + i is on level 1 + i and starts in column 2i + 1
            (MAX_DEPTH + 2, 2 * MAX_DEPTH + 1),
            id="block",
        ),
        pytest.param(
            # *d reaches 61 levels below where it is used, on level 5
            "version: 1\nd: &d " + "{a: " * 60 + "1" + "}" * 60 + "\ntitle: {b: {c: {e: *d}}}\n",
            (3, 20),
            id="through-an-alias",
        ),
    ],
)
def test_deep_nesting_is_refused_at_the_level_too_deep(text: str, where: tuple[int, int]) -> None:
    [problem] = problems(text)
    assert problem.startswith(f"x.yaml:{where[0]}:{where[1]}: {DEPTH_MESSAGE}"), problem


def test_nesting_up_to_the_limit_loads() -> None:
    lists = MAX_DEPTH - 2  # the root mapping is a level, and so is the scalar
    data, _ = load_with_positions("x: " + "[" * lists + "1" + "]" * lists)
    data = data["x"]
    for _ in range(lists):
        data = data[0]
    assert data == 1
    with pytest.raises(YamlError, match="nests more than"):
        load_with_positions("x: " + "[" * (lists + 1) + "1" + "]" * (lists + 1))


def test_an_alias_inside_its_own_node_is_refused() -> None:
    for title in ["&a [*a]", "&a {x: {y: *a}}", "&a {<<: *a}", "&a [[1], {b: [*a]}]"]:
        [problem] = problems(f"version: 1\ntitle: {title}\n")
        where = f"x.yaml:2:{len('title: ') + title.index('*a') + 1}: "
        assert problem.startswith(where + "alias *a is used inside the node it names"), problem


def test_only_one_document() -> None:
    [problem] = problems("version: 1\n---\nversion: 1\n" + "---\n" * 100_000)
    assert problem.startswith("x.yaml:2:1: expected a single document"), problem


@pytest.mark.parametrize(
    ("scalar", "message"),
    [
        ("2001-13-45", "x.yaml:2:8: not a valid timestamp: month must be in 1..12"),
        ("9" * 5000, "x.yaml:2:8: not a valid int: Exceeds the limit (4300 digits)"),
        ("!!float nope", "x.yaml:2:8: not a valid float: could not convert"),
    ],
)
def test_scalars_python_cannot_build_are_located(scalar: str, message: str) -> None:
    [problem] = problems(f"version: 1\ntitle: {scalar}\n")
    assert problem.startswith(message), problem
    assert "sys.set_int_max_str_digits" not in problem


def test_a_message_does_not_quote_a_huge_tag_whole() -> None:
    [problem] = problems("version: 1\ntitle: !" + "x" * 500_000 + " t\n")
    assert problem.startswith("x.yaml:2:8: could not determine a constructor"), problem[:100]
    assert len(problem) < 400


def test_a_document_larger_than_the_limit_is_refused_where_it_passes() -> None:
    line = "# " + "x" * 97 + "\n"  # 100 bytes
    text = "version: 1\n" + line * (MAX_DOCUMENT_BYTES // 100 + 1)
    [problem] = problems(text)
    # the first byte too many, offset MAX_DOCUMENT_BYTES, is 1048565 bytes into the
    # 100-byte lines after line 1: line 10485 + 2, its 66th byte
    assert problem.startswith(f"x.yaml:{MAX_DOCUMENT_BYTES // 100 + 2}:66: document passes")
    assert f"expected at most {MAX_DOCUMENT_BYTES} bytes" in problem


def test_size_counts_bytes_not_characters() -> None:
    text = "title: " + "é" * (MAX_DOCUMENT_BYTES // 2)  # fewer characters than the limit
    assert len(text) < MAX_DOCUMENT_BYTES
    with pytest.raises(YamlError, match="document passes"):
        load_with_positions(text)


class _ReadSpy:
    def __init__(self, stream: Any, asked: list[int]) -> None:
        self.stream, self.asked = stream, asked

    def __enter__(self) -> _ReadSpy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.close()

    def read(self, size: int = -1) -> bytes:
        self.asked.append(size)
        data: bytes = self.stream.read(size)
        return data


def test_a_huge_file_is_read_only_past_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as out:
        out.write(b"version: 1\n")
        out.truncate(4 * 2**30)  # sparse: 4 GiB of NULs that take no disk
    asked: list[int] = []
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: _ReadSpy(real_open(self, *a), asked))
    with pytest.raises(ExperimentInvalid) as caught:
        load_experiment(huge, REGISTRY)
    assert asked == [MAX_DOCUMENT_BYTES + 1]
    [problem] = caught.value.problems
    assert problem.startswith(f"{huge}:2:{MAX_DOCUMENT_BYTES - 11 + 1}: document passes")


def test_an_experiment_at_ordinary_size_still_loads(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[2] / "experiments" / "http_latency.yaml"
    copy = tmp_path / "http_latency.yaml"
    copy.write_text(source.read_text())
    assert load_experiment(copy, REGISTRY).experiment.title


def _hostile_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name → (file, what its first problem line must say after ``file:line:col: ``)."""
    files = {
        "bomb-6": (alias_bomb(6), NODES_MESSAGE),
        "bomb-9": (alias_bomb(9), NODES_MESSAGE),
        "bomb-12": (alias_bomb(12), NODES_MESSAGE),
        "deep": ("version: 1\ntitle: " + "[" * 100_000 + "\n", DEPTH_MESSAGE),
        "recursive": ("version: 1\ntitle: &a [*a]\n", "alias *a is used inside the node"),
        "documents": ("version: 1\n---\nversion: 1\n", "expected a single document"),
        "huge": ("version: 1\ntitle: " + "x" * MAX_DOCUMENT_BYTES + "\n", "document passes"),
        "bad-field": (
            "version: 1\ntitle: t\ncolour: red\nsteady_state:\n"
            "  probes: [{name: p, command: {argv: ['true']}}]\n",
            "colour: unknown field",
        ),
    }
    out = {}
    for name, (text, message) in files.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        out[name] = (path, message)
    return out


def test_the_cli_refuses_hostile_files_with_exit_2(tmp_path: Path) -> None:
    for name, (path, message) in _hostile_files(tmp_path).items():
        code, _, stderr = run_chaoskit(["validate", str(path)], tmp_path, timeout=60)
        assert code == 2, (name, stderr[-2000:])
        located = re.compile(rf"^{re.escape(str(path))}:\d+:\d+: {re.escape(message)}")
        assert any(located.match(line) for line in stderr.splitlines()), (name, stderr[:2000])
        assert "Traceback" not in stderr, (name, stderr[-2000:])


# --- values that are costly to check, not to load --------------------------------------------


def test_a_threshold_padded_with_spaces_is_read_like_a_short_one() -> None:
    # the old pattern (a lazy value before a trailing \s*) backtracked quadratically on this
    from chaoskit._units import parse_duration, parse_threshold

    padded = parse_threshold("<" + " " * 50_000 + "30s" + " " * 50_000, parse_duration)
    assert (padded.op, padded.bound, padded.text) == ("<", 30.0, "< 30s")
    with pytest.raises(ValueError, match="duration"):
        parse_threshold("< a" + " " * 50_000 + "b", parse_duration)


@pytest.mark.parametrize(
    ("kind", "params", "expect_field"),
    [
        ("http", "{url: 'http://127.0.0.1:1/'}", "body_matches"),
        ("command", "{argv: ['true']}", "stdout_matches"),
    ],
)
def test_a_regex_nested_too_deeply_is_refused_located(
    kind: str, params: str, expect_field: str
) -> None:
    pattern = "(" * 5000 + "x" + ")" * 5000
    text = (
        "version: 1\ntitle: t\nsteady_state:\n  probes:\n    - name: p\n"
        f"      {kind}: {params}\n      expect: {{{expect_field}: '{pattern}'}}\n"
    )
    with pytest.raises(ExperimentInvalid) as caught:
        parse_experiment(text, "x.yaml", REGISTRY)
    [problem] = caught.value.problems
    assert LOCATED.match(problem), problem
    assert "nested too deeply" in problem


def test_a_bad_command_regex_is_refused_at_validation() -> None:
    text = (
        "version: 1\ntitle: t\nsteady_state:\n  probes:\n    - name: p\n"
        "      command: {argv: ['true']}\n      expect: {stdout_matches: '(unclosed'}\n"
    )
    with pytest.raises(ExperimentInvalid) as caught:
        parse_experiment(text, "x.yaml", REGISTRY)
    [problem] = caught.value.problems
    assert "not a valid regular expression" in problem
