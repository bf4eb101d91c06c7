"""chaoskit-process helper, run as a script (``python -I -S _worker.py ...``).

Standard library only, so that it starts in a few milliseconds. Command line::

    _worker.py chaoskit-process-helper --tag=TAG burn --seconds=S [--nice=N] [--cpus=0,1]
    _worker.py chaoskit-process-helper --tag=TAG hog --mib=M --seconds=S
    _worker.py chaoskit-process-helper --tag=TAG restart --after=S [--cwd=DIR] -- ARGV...

``burn`` spins on one CPU and ``hog`` allocates and touches M MiB then holds it;
both end themselves after S seconds through ``signal.alarm`` — the kernel ends
them even while they spin, so they die when chaoskit dies. ``restart`` waits,
then starts ARGV in this session and exits at once (exit 127: the program was
not found, 126: it could not be run).
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time

__all__: list[str] = []

MIB = 1024 * 1024
PAGE = 4096


def _options(args: list[str]) -> dict[str, str]:
    options = {}
    for arg in args:
        key, _, value = arg.removeprefix("--").partition("=")
        options[key] = value
    return options


def _cap(seconds: float) -> float:
    # SIGALRM's default action ends the process, even in a busy loop.
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(max(1, math.ceil(seconds)))
    return time.monotonic() + seconds


def burn(options: dict[str, str]) -> None:
    if options.get("nice"):
        os.nice(int(options["nice"]))
    if options.get("cpus"):
        os.sched_setaffinity(0, {int(cpu) for cpu in options["cpus"].split(",")})
    deadline = _cap(float(options["seconds"]))
    while time.monotonic() < deadline:
        for _ in range(20_000):
            pass


def hog(options: dict[str, str]) -> None:
    deadline = _cap(float(options["seconds"]))
    size = int(options["mib"]) * MIB
    held = bytearray(size)
    # bytearray() gets zero pages lazily: write one byte per page so that each
    # is backed by real memory (resident), not just reserved.
    held[::PAGE] = b"\x01" * len(range(0, size, PAGE))
    while time.monotonic() < deadline:
        time.sleep(min(3600.0, max(0.01, deadline - time.monotonic())))
    del held


def restart(options: dict[str, str], argv: list[str]) -> int:
    time.sleep(float(options.get("after") or 0))
    if options.get("cwd"):
        os.chdir(options["cwd"])
    try:
        os.posix_spawnp(argv[0], argv, dict(os.environ))
    except FileNotFoundError:
        return 127
    except OSError:
        return 126
    return 0


def main(args: list[str]) -> int:
    # args: MARK --tag=TAG MODE OPTIONS... [-- ARGV...]
    mode = args[2]
    rest = args[3:]
    argv: list[str] = []
    if "--" in rest:
        split = rest.index("--")
        rest, argv = rest[:split], rest[split + 1 :]
    options = _options(rest)
    if mode == "burn":
        burn(options)
    elif mode == "hog":
        hog(options)
    elif mode == "restart":
        return restart(options, argv)
    else:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
