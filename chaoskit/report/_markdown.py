"""The Markdown report (``chaoskit report --markdown``): the run's findings as
text and tables, for a ticket or a GameDay write-up. Rendered from a Jinja2
template (ADR 0019); every value that goes into a table cell is escaped."""

from __future__ import annotations

import functools

import jinja2
import yaml

from chaoskit._phases import FAULT_WINDOW, SEGMENTS
from chaoskit.report._cases import cases
from chaoskit.report._collect import ReportData
from chaoskit.report._filters import FILTERS

__all__ = ["markdown_report", "render"]


def markdown_report(data: ReportData) -> str:
    verdicts = {(case.group, case.name): case for case in cases(data)}
    return render(
        "run.md.j2",
        data=data,
        r=data.result,
        m=data.result.measurements,
        verdicts=verdicts,
        segments=SEGMENTS,
        fault_window=FAULT_WINDOW,
        experiment=yaml.safe_dump(data.started.experiment, sort_keys=False, allow_unicode=True),
    )


def render(template: str, **context: object) -> str:
    """A Markdown template of ``templates/`` rendered, ending in one newline."""
    return _environment().get_template(template).render(**context).strip() + "\n"


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("chaoskit.report", "templates"),
        autoescape=False,  # Markdown: cells are escaped by the `cell` filter instead
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(FILTERS, cell=_cell)
    return environment


def _cell(value: object) -> str:
    """A value as one Markdown table cell: pipes escaped, on one line."""
    text = "-" if value is None or value == "" else str(value)
    return " ".join(text.replace("\\", "\\\\").replace("|", "\\|").split())
