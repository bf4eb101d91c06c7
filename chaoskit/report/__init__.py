"""Reports of a run, made from its journal (a killed run's too): one
self-contained HTML page with the run's timeline, Markdown for a ticket or a
GameDay write-up, JUnit XML for CI; several runs side by side (ADR 0019)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from chaoskit.report._collect import ReportData, collect
from chaoskit.report._compare import comparison_markdown
from chaoskit.report._html import html_report
from chaoskit.report._junit import junit_xml
from chaoskit.report._markdown import markdown_report

__all__ = [
    "FORMATS",
    "ReportData",
    "collect",
    "comparison_markdown",
    "html_report",
    "junit_xml",
    "markdown_report",
    "write_reports",
]

Format = Literal["html", "markdown", "junit"]
FORMATS: dict[Format, tuple[str, Callable[[ReportData], str]]] = {
    "html": ("report.html", html_report),
    "markdown": ("report.md", markdown_report),
    "junit": ("junit.xml", junit_xml),
}
"""Each format: its file name in the run directory, and its renderer."""


def write_reports(data: ReportData, targets: dict[Format, Path]) -> list[Path]:
    """Render each format to its path; returns the paths written."""
    written = []
    for fmt, path in targets.items():
        path.write_text(FORMATS[fmt][1](data), encoding="utf-8")
        written.append(path)
    return written
