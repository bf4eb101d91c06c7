"""docs/experiment-reference.md is generated from the schema and must be current."""

from __future__ import annotations

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
