"""``chaoskit lab up|down|status|knobs``: the lab from the command line.

The core CLI calls :func:`add_parser` to add the ``lab`` command and :func:`handle` to run
it; ``python -m chaoskit.lab.cli`` runs it alone. Exit codes: 0 done (``status``: every
service healthy); 1 the lab could not be brought up or down (also when SIGINT or SIGTERM came
during ``up``: what it had begun is taken down), or (``status``) is not healthy;
2 bad usage (an unknown knob, a runtime mismatch).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

__all__ = ["add_parser", "handle", "main"]

EXIT_LAB_PROBLEM = 1
EXIT_USAGE = 2


def add_parser(subparsers: Any) -> None:
    """Add ``lab`` and its subcommands to an ``argparse`` subparsers object."""
    lab = subparsers.add_parser(
        "lab",
        help="bring the lab (the system under test) up or down; show its status",
        description="The lab: ledger and catalog services, PostgreSQL and Toxiproxy, as local "
        "processes or a Compose stack, on 127.0.0.1 (docs/lab.md).",
    )
    commands = lab.add_subparsers(dest="lab_command", required=True, metavar="LAB_COMMAND")
    runtime = {
        "choices": ["docker", "process"],
        "help": "default: the running lab's; else docker when a Docker engine answers, "
        "else process",
    }
    up = commands.add_parser("up", help="start what is not running; wait until healthy")
    up.add_argument("--runtime", **runtime)
    up.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KNOB=VALUE",
        help="a knob value for the services (repeatable; `chaoskit lab knobs` lists them)",
    )
    up.add_argument("--timeout", type=float, help="seconds to wait for health")
    down = commands.add_parser("down", help="take down what `lab up` started")
    down.add_argument("--runtime", **runtime)
    down.add_argument(
        "--force", action="store_true", help="also what `lab up` did not start (docker)"
    )
    down.add_argument("services", nargs="*", help="only these (default: all it started)")
    status = commands.add_parser("status", help="each service, its health, who started it")
    status.add_argument("--runtime", **runtime)
    status.add_argument("--json", action="store_true", help="print JSON")
    commands.add_parser("knobs", help="list the knobs and their defaults")


def handle(args: argparse.Namespace) -> int:
    """Run the ``lab`` subcommand that ``args`` names."""
    from chaoskit.lab.errors import LabError, LabUsageError
    from chaoskit.lab.interrupt import LabInterrupted

    try:
        if args.lab_command == "up":
            return _up(args)
        if args.lab_command == "down":
            return _down(args)
        if args.lab_command == "status":
            return _status(args)
        return _knobs()
    except LabUsageError as exc:
        print(f"chaoskit lab: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LabError as exc:
        print(f"chaoskit lab: {args.lab_command} failed: {exc}", file=sys.stderr)
        return EXIT_LAB_PROBLEM
    except LabInterrupted as exc:
        print(f"chaoskit lab: {exc}: what it had started was taken down", file=sys.stderr)
        return EXIT_LAB_PROBLEM


def _up(args: argparse.Namespace) -> int:
    from chaoskit.lab.core import up
    from chaoskit.lab.knobs import parse_settings

    result = up(args.runtime, parse_settings(args.set), timeout=args.timeout)
    parts = []
    if result.started:
        parts.append(f"started {', '.join(result.started)}")
    if result.restarted:
        parts.append(f"restarted {', '.join(result.restarted)} (new knob values)")
    if result.already_running:
        parts.append(f"already running: {', '.join(result.already_running)}")
    print(f"lab up ({result.runtime}, {result.seconds:.1f}s): {'; '.join(parts)}")
    ports = result.ports
    print(f"  ledger     {ports.ledger_url}")
    print(f"  catalog    {ports.catalog_url}")
    print(
        f"  toxiproxy  {ports.toxiproxy_url}  (proxies ledger_postgres :"
        f"{ports.ledger_postgres_proxy}, catalog_ledger :{ports.catalog_ledger_proxy})"
    )
    print(f"  postgres   127.0.0.1:{ports.postgres}  (user, password, database: ledger)")
    return 0


def _down(args: argparse.Namespace) -> int:
    from chaoskit.lab.core import down

    stopped = down(args.runtime, services=args.services or None, force=args.force)
    if stopped:
        print(f"lab down: stopped {', '.join(stopped)}")
    else:
        print("lab down: nothing that `chaoskit lab up` started is running")
    return 0


def _status(args: argparse.Namespace) -> int:
    from chaoskit.lab.core import status

    lab = status(args.runtime)
    if args.json:
        document = {"runtime": lab.runtime, "healthy": lab.healthy}
        document["services"] = [asdict(service) for service in lab.services]
        print(json.dumps(document, indent=2))
    else:
        print(f"lab ({lab.runtime} runtime): {'healthy' if lab.healthy else 'NOT healthy'}")
        for s in lab.services:
            health = "ok" if s.healthy else "FAIL"
            owner = "started by lab up" if s.owned else "not started by lab up"
            print(f"  {s.name:<10} {health:<5} {s.where}; {owner}")
            print(f"  {'':<10} {'':<5} {s.detail}")
    return 0 if lab.healthy else EXIT_LAB_PROBLEM


def _knobs() -> int:
    from chaoskit.lab.knobs import KNOBS

    for knob in KNOBS.values():
        if knob.wired:
            continue
        print(f"{knob.name:<26} {knob.default:<13} {knob.meaning}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaoskit")
    add_parser(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return handle(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
