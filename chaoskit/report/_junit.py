"""JUnit XML of a run (``chaoskit report --junit``): one testsuite per group of
cases (steady-state, expectations, recovery-probes, run), written with the
standard library's ElementTree (ADR 0019)."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET

from chaoskit.report._cases import GROUPS, Case, cases
from chaoskit.report._collect import ReportData

__all__ = ["junit_xml"]


def junit_xml(data: ReportData) -> str:
    result = data.result
    every = cases(data)
    root = ET.Element("testsuites", name=result.title)
    _count(root, every)
    del root.attrib["skipped"]  # the schema has no skipped count for the whole
    root.set("time", _seconds(result.duration))
    for group in GROUPS:
        members = [case for case in every if case.group == group]
        if not members:
            continue
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"{result.title} · {group}",
            timestamp=result.started_at[:19],
            hostname=socket.gethostname(),
        )
        _count(suite, members)
        suite.set("time", _seconds(sum(case.seconds for case in members)))
        properties = ET.SubElement(suite, "properties")
        for name, value in (
            ("run_id", result.run_id),
            ("status", str(result.status)),
            ("chaoskit_version", result.chaoskit_version),
            *((f"plugin:{name}", version) for name, version in data.started.plugins.items()),
            ("run_dir", str(data.run_dir)),
        ):
            ET.SubElement(properties, "property", name=name, value=value)
        for case in members:
            _case(suite, case)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _count(element: ET.Element, members: list[Case]) -> None:
    element.set("tests", str(len(members)))
    for outcome, attribute in (("failed", "failures"), ("error", "errors"), ("skipped", "skipped")):
        element.set(attribute, str(sum(case.outcome == outcome for case in members)))


def _case(suite: ET.Element, case: Case) -> None:
    element = ET.SubElement(
        suite, "testcase", name=case.name, classname=f"chaoskit.{case.group}",
        time=_seconds(case.seconds),
    )  # fmt: skip
    if case.outcome == "failed":
        ET.SubElement(element, "failure", message=case.message, type="chaoskit").text = case.message
    elif case.outcome == "error":
        ET.SubElement(element, "error", message=case.message, type="chaoskit").text = case.message
    elif case.outcome == "skipped":
        ET.SubElement(element, "skipped").text = case.message  # the schema: text, no attributes
    elif case.message:
        ET.SubElement(element, "system-out").text = case.message


def _seconds(value: float) -> str:
    return f"{value:.3f}"
