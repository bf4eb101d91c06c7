"""The HTML report (``chaoskit report --html``): one self-contained page, the
findings as tables and the run's timeline drawn by Vega-Lite. The chart
libraries, the style and the data are inlined: the page opens offline and
fetches nothing (ADR 0019). Rendered from a Jinja2 template, autoescaped."""

from __future__ import annotations

import functools
import json
import re
from importlib import resources

import jinja2
import yaml

from chaoskit._phases import FAULT_WINDOW, SEGMENTS
from chaoskit._units import format_duration
from chaoskit.report._cases import cases
from chaoskit.report._chart import legend, timeline_spec
from chaoskit.report._collect import ReportData
from chaoskit.report._filters import FILTERS

__all__ = ["CHART_LIBRARIES", "html_report"]

CHART_LIBRARIES = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")
"""The vendored scripts the page inlines, in load order (chaoskit/report/vendor)."""


def html_report(data: ReportData) -> str:
    plan = data.started.plan
    units = {probe.name: probe.unit for probe in plan.probes} if plan else {}
    m = data.result.measurements
    spec = timeline_spec(data.timeline, m.iterations if m else [], data.controls, units)
    verdicts = {(case.group, case.name): case for case in cases(data)}
    return (
        _environment()
        .get_template("run.html.j2")
        .render(
            data=data,
            r=data.result,
            m=m,
            verdicts=verdicts,
            segments=SEGMENTS,
            fault_window=FAULT_WINDOW,
            experiment=yaml.safe_dump(data.started.experiment, sort_keys=False, allow_unicode=True),
            legend=legend(),
            spec=script_json(spec),
            scripts=[*_vendored(), _static("run.js")],
            css=_static("run.css"),
            charts=_charts_credit(),
        )
    )


def script_json(value: object) -> str:
    """JSON safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` left
    that could end it or open a comment (escaped as JSON \\u escapes)."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@functools.cache
def _vendored() -> tuple[str, ...]:
    vendor = resources.files("chaoskit.report") / "vendor"
    return tuple(_script_safe(vendor.joinpath(name).read_text("utf-8")) for name in CHART_LIBRARIES)


@functools.cache
def _charts_credit() -> str:
    vendor = resources.files("chaoskit.report") / "vendor"
    manifest = json.loads(vendor.joinpath("MANIFEST.json").read_text("utf-8"))
    return ", ".join(
        f"{package['package']} {package['version']} ({package['license']})"
        for package in manifest["packages"]
    )


def _static(name: str) -> str:
    return (resources.files("chaoskit.report") / "static").joinpath(name).read_text("utf-8")


_SCRIPT_END = re.compile(r"</(script)", re.IGNORECASE)


def _script_safe(source: str) -> str:
    """JavaScript that cannot end its ``<script>`` element early."""
    return _SCRIPT_END.sub(r"<\\/\1", source)


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("chaoskit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(FILTERS, yes=_yes, res=_resolution)
    return environment


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _resolution(value: float | None) -> str:
    return "" if value is None else f" ±{format_duration(value)}"
