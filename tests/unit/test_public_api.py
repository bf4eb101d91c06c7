"""The public surface: every public name resolves, every module has __all__."""

from __future__ import annotations

import importlib
import pkgutil

import chaoskit


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
