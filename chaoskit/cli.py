"""The ``chaoskit`` command. Imports are lazy: ``--help`` stays fast.

Exit codes: 0 hypothesis held; 1 hypothesis or expectations failed (or the
baseline was not steady); 2 invalid input or usage; 3 aborted (signal,
safeguard, error) and cleanly reverted; 4 a revert failed (dirty).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import FrameType

    from chaoskit._loader import LoadedExperiment

__all__ = ["main"]

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chaoskit",
        description="Run chaos experiments; measure MTTR, data loss and containment; "
        "always revert.",
        epilog="exit codes: 0 held · 1 failed/unsteady baseline · 2 invalid input · "
        "3 aborted, reverted · 4 revert failed (dirty)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs, tracebacks")
    parser.add_argument(
        "--log-format",
        choices=["auto", "console", "json"],
        default="auto",
        help="logs on stderr: console on a terminal, JSON otherwise (default: auto)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run an experiment")
    run.add_argument("experiment", help="experiment file (YAML)")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="validate, print the plan (with --json: as JSON), stop; contacts nothing",
    )
    run.add_argument("--runs-dir", default=".chaoskit/runs", help="where run dirs go")
    run.add_argument("--timeout", help="abort and revert after this long (e.g. 10m)")
    run.add_argument("--revert-attempts", type=int, default=5, help="tries per revert")
    run.add_argument("--json", action="store_true", help="print results.json to stdout")
    run.add_argument(
        "--report",
        metavar="FORMATS",
        help="also write these reports into the run directory: html, markdown, junit "
        "(comma-separated)",
    )

    validate = sub.add_parser("validate", help="validate experiment files")
    validate.add_argument("experiments", nargs="+")

    schema = sub.add_parser("schema", help="print the JSON Schema of the experiment format")
    schema.add_argument("--output", "-o", help="write to this file instead of stdout")

    sub.add_parser("plugins", help="list installed injectors, probes and target kinds")

    from chaoskit.lab.cli import add_parser as add_lab_parser

    add_lab_parser(sub)

    export = sub.add_parser("export", help="a run's timeline (samples, faults) as CSV")
    export.add_argument("run_dir")
    export.add_argument("--output", "-o", help="write to this file instead of stdout")

    results = sub.add_parser(
        "results",
        help="rebuild a run's results.json from its journal (a killed or crashed run too)",
        epilog="exit codes: as chaoskit run's for the run's status (0 held · 1 failed · "
        "3 aborted, or ended without a verdict · 4 a fault left applied) · 2 no journal, "
        "or one that cannot be rebuilt",
    )
    results.add_argument("run_dir")
    results.add_argument(
        "--output", "-o", help="write to this file instead of RUN_DIR/results.json"
    )
    results.add_argument(
        "--json", action="store_true", help="print the results as JSON instead of the summary"
    )

    report = sub.add_parser(
        "report",
        help="a run's report: an HTML page with its timeline, Markdown for a ticket, "
        "JUnit XML for CI (a killed run too)",
        epilog="one run: with no format option, writes every format into RUN_DIR "
        "(report.html, report.md, junit.xml). Several runs: one Markdown table of them "
        "side by side, on stdout or in --markdown FILE. Exit codes: 0 written · 2 no "
        "journal, one that cannot be rebuilt, or --html or --junit with several runs",
    )
    report.add_argument("run_dir", nargs="+")
    report.add_argument(
        "--html", metavar="FILE", help="write the HTML report here (one self-contained file)"
    )
    report.add_argument("--markdown", metavar="FILE", help="write the Markdown report here")
    report.add_argument("--junit", metavar="FILE", help="write the JUnit XML here")

    rollback = sub.add_parser(
        "rollback",
        help="revert what a crashed run left applied",
        epilog="exit codes: 0 nothing left applied · 2 not a run directory, bad option · "
        "4 something may still be applied (a revert failed, a fault cannot be rebuilt, "
        "a corrupt journal line, another rollback still running, interrupted)",
    )
    rollback.add_argument("run_dir")
    rollback.add_argument("--revert-attempts", type=int, default=5, help="tries per revert")
    rollback.add_argument(
        "--wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for another rollback of the same run (default: 60; 0: not at all)",
    )
    rollback.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM is handled like Ctrl-C: ``finally`` blocks run


def main(argv: Sequence[str] | None = None) -> int:
    # Python's default SIGTERM ends the process at once, skipping every clean-up (a lab
    # this run started, say). The runner and the lab watch signals themselves while they
    # act; before and between, SIGTERM means what SIGINT means.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)
    args = _parser().parse_args(argv)
    from chaoskit._errors import ExperimentInvalid, UserError

    try:
        handler = _COMMANDS[args.command]
        return handler(args)
    except ExperimentInvalid as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        count = len(exc.problems)
        print(f"chaoskit: {count} problem{'s' if count != 1 else ''} found", file=sys.stderr)
        return EXIT_USAGE
    except UserError as exc:
        if args.verbose:
            raise
        print(f"chaoskit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("chaoskit: interrupted (nothing was injected)", file=sys.stderr)
        return 3


def _cmd_run(args: argparse.Namespace) -> int:

    import anyio

    from chaoskit._errors import UserError
    from chaoskit._faults import RetryPolicy
    from chaoskit._labrun import LabUnavailable, with_lab
    from chaoskit._loader import load_experiment
    from chaoskit._logging import configure_logging
    from chaoskit._runner import RunOptions, run_experiment
    from chaoskit._summary import render_summary
    from chaoskit._units import parse_duration

    loaded = load_experiment(args.experiment)
    _warn_broken(loaded.registry)
    if args.dry_run:
        return _dry_run(loaded, args)
    try:
        timeout = parse_duration(args.timeout) if args.timeout else None
    except ValueError as exc:
        raise UserError(f"--timeout: {exc}") from None
    if args.revert_attempts < 1:
        raise UserError("--revert-attempts: expected at least 1")
    formats = _report_formats(args.report)
    log = configure_logging(loaded.secrets, args.verbose, args.log_format)
    options = RunOptions(
        runs_dir=Path(args.runs_dir),
        timeout=timeout,
        revert_policy=RetryPolicy(attempts=args.revert_attempts),
        progress=sys.stderr.isatty() and not args.json,
    )
    try:
        result, run_dir = with_lab(
            loaded.experiment.lab,
            log,
            lambda: anyio.run(
                run_experiment, loaded, options, log, backend_options=_loop_options(loaded)
            ),
        )
    except LabUnavailable as exc:
        print(f"chaoskit: {exc}", file=sys.stderr)
        return 3
    reports: list[str] = []
    if formats:
        from chaoskit.report import FORMATS, collect, write_reports

        data = collect(run_dir)
        written = write_reports(data, {fmt: run_dir / FORMATS[fmt][0] for fmt in formats})
        reports = [path.name for path in written]
    if args.json:
        print(loaded.secrets.redact(result.model_dump_json(indent=2)))
    else:
        print(render_summary(result, run_dir, reports))
    return result.exit_code


def _loop_options(loaded: LoadedExperiment) -> dict[str, Any]:
    """uvloop where it is installed and there is load to drive (it carries about a
    fifth more requests a second through aiohttp); the default loop otherwise, so a
    run without load does not pay for importing it."""
    if not loaded.experiment.load:
        return {}
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return {}
    return {"use_uvloop": True}


def _cmd_validate(args: argparse.Namespace) -> int:
    from chaoskit._errors import ExperimentInvalid, UserError
    from chaoskit._loader import load_experiment
    from chaoskit._registry import discover

    registry = discover()
    _warn_broken(registry)
    problems: list[str] = []
    for path in args.experiments:
        try:
            load_experiment(path, registry)
        except ExperimentInvalid as exc:
            problems += exc.problems
        except UserError as exc:
            problems.append(str(exc))
        else:
            print(f"{path}: ok")
    if problems:
        raise ExperimentInvalid(problems)
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    import json

    from chaoskit._registry import discover
    from chaoskit._schema import experiment_schema

    text = json.dumps(experiment_schema(discover()), indent=2) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_plugins(args: argparse.Namespace) -> int:
    from chaoskit._registry import discover

    registry = discover()
    registry.load_all()
    rows: list[tuple[str, str, str, str]] = []
    groups: list[tuple[str, dict[str, Any]]] = [
        ("injector", registry.injectors),
        ("probe", registry.probes),
        ("target", registry.targets),
        ("load", registry.loads),
    ]
    for noun, plugins in groups:
        for name, plugin in sorted(plugins.items()):
            rows.append((noun, name, plugin.distribution, plugin.version))
    width = max((len(r[1]) for r in rows), default=10)
    for noun, name, dist, version in rows:
        print(f"{noun:<9} {name:<{width}}  {dist} {version}")
    for broken in registry.broken:
        print(f"BROKEN    {broken.describe()}")
    return 1 if registry.broken else 0


def _cmd_rollback(args: argparse.Namespace) -> int:

    import anyio

    from chaoskit._errors import UserError
    from chaoskit._faults import RetryPolicy
    from chaoskit._logging import configure_logging
    from chaoskit._registry import discover
    from chaoskit._rollback import RollbackInProgress, rollback, rollback_secrets

    run_dir = _run_dir(args.run_dir)
    if args.revert_attempts < 1:
        raise UserError("--revert-attempts: expected at least 1")
    if not 0 <= args.wait < float("inf"):  # also refuses nan
        raise UserError("--wait: expected a number of seconds, 0 or more")
    registry = discover()
    _warn_broken(registry)
    secrets = rollback_secrets(run_dir)
    log = configure_logging(secrets, args.verbose, args.log_format)
    policy = RetryPolicy(attempts=args.revert_attempts)
    try:
        report = anyio.run(lambda: rollback(run_dir, registry, log, policy, wait=args.wait))
    except RollbackInProgress as exc:
        print(f"chaoskit: {exc}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        print(
            "chaoskit: rollback interrupted: faults may still be applied; "
            f"run chaoskit rollback {run_dir} again",
            file=sys.stderr,
        )
        return 4
    for line in report.journal_notes():
        print(line, file=sys.stderr)
    if args.verbose:
        for text in report.tracebacks():
            print(text, file=sys.stderr, end="")
    if args.json:
        import json

        print(json.dumps({"run_dir": str(run_dir), **report.to_json()}, indent=2))
    else:
        print(report.render(run_dir))
    return report.exit_code


def _cmd_results(args: argparse.Namespace) -> int:
    from chaoskit._journal import JOURNAL_NAME
    from chaoskit._result_builder import rebuild_from_journal
    from chaoskit._results import RESULTS_NAME
    from chaoskit._summary import render_summary

    run_dir = _run_dir(args.run_dir)
    path = run_dir / JOURNAL_NAME
    rebuilt = rebuild_from_journal(path)
    for warning in rebuilt.warnings:
        print(f"chaoskit: warning: {warning}", file=sys.stderr)
    result = rebuilt.result
    text = result.model_dump_json(indent=2) + "\n"
    output = Path(args.output) if args.output else run_dir / RESULTS_NAME
    output.write_text(text, encoding="utf-8")
    if args.json:
        sys.stdout.write(text)
    else:
        print(render_summary(result, run_dir))
        print(f"  rebuilt from {path} into {output}")
    return result.exit_code


def _cmd_report(args: argparse.Namespace) -> int:
    from chaoskit.report import FORMATS, collect, write_reports

    if len(args.run_dir) > 1:
        return _compare_runs(args)
    run_dir = _run_dir(args.run_dir[0])
    chosen = {fmt: getattr(args, fmt) for fmt in FORMATS if getattr(args, fmt)}
    if chosen:
        targets = {fmt: Path(path) for fmt, path in chosen.items()}
    else:
        targets = {fmt: run_dir / name for fmt, (name, _) in FORMATS.items()}
    data = collect(run_dir)
    for warning in data.warnings:
        print(f"chaoskit: warning: {warning}", file=sys.stderr)
    for path in write_reports(data, targets):
        print(path)
    return 0


def _compare_runs(args: argparse.Namespace) -> int:
    from chaoskit._errors import UserError
    from chaoskit.report import collect, comparison_markdown

    for option in ("html", "junit"):
        if getattr(args, option):
            raise UserError(f"--{option}: one run per file (give one RUN_DIR)")
    runs = [collect(_run_dir(path)) for path in args.run_dir]
    for data in runs:
        for warning in data.warnings:
            print(f"chaoskit: warning: {warning}", file=sys.stderr)
    text = comparison_markdown(runs)
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
        print(args.markdown)
    else:
        sys.stdout.write(text)
    return 0


def _report_formats(text: str | None) -> list[Any]:
    """``--report html,markdown,junit`` as the formats, checked before the run starts."""
    from chaoskit._errors import UserError
    from chaoskit.report import FORMATS

    if not text:
        return []
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in FORMATS]
    if unknown or not chosen:
        raise UserError(
            f"--report: expected a comma-separated list of {', '.join(FORMATS)}; got {text!r}"
        )
    return chosen


def _cmd_export(args: argparse.Namespace) -> int:

    from chaoskit._export import timeline_csv

    text = timeline_csv(_run_dir(args.run_dir))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _cmd_lab(args: argparse.Namespace) -> int:
    from chaoskit.lab.cli import handle

    return handle(args)


def _run_dir(path: str) -> Path:
    from chaoskit._errors import UserError

    run_dir = Path(path)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a directory (expected a run directory)")
    return run_dir


def _warn_broken(registry: Any) -> None:
    for broken in registry.broken:
        print(f"chaoskit: warning: {broken.describe()}", file=sys.stderr)


def _dry_run(loaded: LoadedExperiment, args: argparse.Namespace) -> int:
    """Print the plan (text, or JSON with ``--json``); nothing is contacted."""
    import json

    from chaoskit._plan import build_plan, render_plan

    plan = build_plan(loaded, args.runs_dir)
    if args.json:
        print(json.dumps(loaded.secrets.redact(plan.model_dump(mode="json")), indent=2))
    else:
        print(loaded.secrets.redact(render_plan(plan)))
    return 0


_COMMANDS = {
    "run": _cmd_run,
    "validate": _cmd_validate,
    "schema": _cmd_schema,
    "plugins": _cmd_plugins,
    "rollback": _cmd_rollback,
    "results": _cmd_results,
    "report": _cmd_report,
    "export": _cmd_export,
    "lab": _cmd_lab,
}


if __name__ == "__main__":
    sys.exit(main())
