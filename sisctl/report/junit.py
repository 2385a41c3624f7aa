"""JUnit XML, the format CI systems show as test results."""
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


def write_junit(path: Path, suite: str, cases: list[Case], properties: dict | None = None) -> None:
    root = ET.Element("testsuite", name=suite, tests=str(len(cases)),
                      failures=str(sum(not c.passed for c in cases)),
                      time=f"{sum(c.seconds for c in cases):.3f}")
    if properties:
        props = ET.SubElement(root, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", name=key, value=str(value))
    for case in cases:
        node = ET.SubElement(root, "testcase", classname=suite, name=case.name, time=f"{case.seconds:.3f}")
        if not case.passed:
            ET.SubElement(node, "failure", message=case.detail.splitlines()[0] if case.detail else "failed"
                          ).text = case.detail
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
