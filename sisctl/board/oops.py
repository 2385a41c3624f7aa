"""Recognise the first line of a kernel error report on a console (after syzkaller's pkg/report)."""
from __future__ import annotations

import re
from dataclasses import dataclass

TIMESTAMP = re.compile(r"^\s*(<\d+>)?\[\s*\d+\.\d+\]\s*(\[\s*[CT]\d+\]\s*)?")

# (header, kind): the line starts an error report of that kind.
HEADERS = [
    ("Kernel panic", "panic"),
    ("kernel BUG", "bug"),
    ("BUG:", "bug"),
    ("Unable to handle kernel", "oops"),
    ("Internal error:", "oops"),
    ("Unhandled fault:", "oops"),
    ("Alignment trap:", "oops"),
    ("general protection fault", "oops"),
    ("UBSAN:", "ubsan"),
    ("WARNING:", "warning"),
    ("INFO:", "info"),
]
# Lines that close a report, so the wait can stop before the grace period.
REPORT_END = re.compile(r"---\[ end (trace|Kernel panic)")
ADDRESS = re.compile(r"\b(0x)?[0-9a-f]{8,16}\b")
OFFSET = re.compile(r"\+0x[0-9a-f]+/0x[0-9a-f]+")


@dataclass
class ReportStart:
    kind: str
    title: str


def strip_timestamp(line: str) -> str:
    return TIMESTAMP.sub("", line, count=1)


def report_start(line: str, ignore: list[re.Pattern] | None = None) -> ReportStart | None:
    text = strip_timestamp(line).strip()
    for header, kind in HEADERS:
        if text.startswith(header):
            if any(p.search(text) for p in ignore or []):
                return None
            return ReportStart(kind, title(text))
    return None


def title(text: str) -> str:
    """A stable title for deduplication: addresses and function offsets removed."""
    return ADDRESS.sub("ADDR", OFFSET.sub("", text)).strip()


def is_report_end(line: str) -> bool:
    return bool(REPORT_END.search(line))
