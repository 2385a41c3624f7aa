"""JUnit XML, the format CI systems show as test results. Infrastructure errors are <error>,
test failures <failure>, inconclusive cases <skipped>: CI reads the three differently."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Case:
    name: str
    passed: bool
    detail: str = ""
    seconds: float = 0.0
    error: bool = False       # not a verdict on the kernel: the test could not run
    skipped: bool = False     # ran, but decided nothing (e.g. an inconclusive comparison)


def write_junit(path: Path, suite: str, cases: list[Case], properties: dict | None = None) -> None:
    write_junit_suites(path, [(suite, cases, properties)])


def write_junit_suites(path: Path, suites: list[tuple[str, list[Case], dict | None]]) -> None:
    """One file holding several test suites (a plan of campaigns), or one."""
    nodes = [suite_element(name, cases, props) for name, cases, props in suites]
    root = nodes[0] if len(nodes) == 1 else ET.Element("testsuites")
    if len(nodes) > 1:
        root.extend(nodes)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def suite_element(suite: str, cases: list[Case], properties: dict | None = None) -> ET.Element:
    failed = [c for c in cases if not c.passed and not c.skipped]
    root = ET.Element("testsuite", name=suite, tests=str(len(cases)),
                      failures=str(sum(not c.error for c in failed)), errors=str(sum(c.error for c in failed)),
                      skipped=str(sum(c.skipped for c in cases)),
                      time=f"{sum(c.seconds for c in cases):.3f}")
    if properties:
        props = ET.SubElement(root, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", name=key, value=str(value))
    for case in cases:
        node = ET.SubElement(root, "testcase", classname=suite, name=case.name, time=f"{case.seconds:.3f}")
        message = case.detail.splitlines()[0] if case.detail else ""
        if case.skipped:
            ET.SubElement(node, "skipped", message=message or "skipped").text = case.detail
        elif not case.passed:
            tag = "error" if case.error else "failure"
            ET.SubElement(node, tag, message=message or tag).text = case.detail
    return root
