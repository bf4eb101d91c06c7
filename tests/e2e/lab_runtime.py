"""Helpers for the e2e tests (a module name of its own: `conftest` is ambiguous
when several test folders are on sys.path)."""

from __future__ import annotations

import shutil
import subprocess

__all__ = ["docker_answers"]


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    return done.returncode == 0
