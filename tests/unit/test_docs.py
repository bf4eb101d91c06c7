"""docs/experiment-reference.md is generated from the schema and must be current;
files the docs include must be included verbatim."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_reference_page_is_current() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "gen_reference.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_schema_command_prints_json_schema() -> None:
    import json

    done = subprocess.run(
        [sys.executable, "-m", "chaoskit", "schema"], capture_output=True, text=True, check=True
    )
    schema = json.loads(done.stdout)
    assert schema["$schema"].endswith("2020-12/schema")
    assert "Fault_toxiproxy_latency" in schema["$defs"]
    assert not any(name.startswith("Unknown_") for name in schema["$defs"])


INCLUDE = re.compile(r"<!-- include: (?P<path>\S+) -->\n```\w*\n(?P<body>.*?)```\n", re.S)


def test_included_files_are_current() -> None:
    """A fenced block after ``<!-- include: PATH -->`` is that file, verbatim:
    the worked example of the contract in docs/writing-injectors.md is a real
    test that runs with the integration tests."""
    text = (ROOT / "docs" / "writing-injectors.md").read_text()
    included = {match["path"]: match["body"] for match in INCLUDE.finditer(text)}
    assert "tests/integration/toxiproxy/test_contract_down.py" in included
    for path, body in included.items():
        assert body == (ROOT / path).read_text(), f"{path} differs from its copy in the docs"
