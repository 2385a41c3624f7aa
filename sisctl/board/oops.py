"""Recognise the first line of a kernel error report on a console, and name its kind.

One table (HEADERS) says which console lines start a report: the console ends a wait on them,
and fuzz triage (sisctl/campaign/fuzz/triage.py) titles the report from the same match. The
formats are those of arm64 Linux 6.x (kernel/watchdog.c, kernel/hung_task.c, kernel/rcu/tree_stall.h,
mm/kasan, lib/ubsan.c, lib/bug.c, arch/arm64/mm/fault.c, arch/arm64/kernel/traps.c, kernel/panic.c).
The x86 ones (general protection fault, "BUG: unable to handle page fault") are left out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

TIMESTAMP = re.compile(r"^\s*(<\d+>)?\[\s*\d+\.\d+\]\s*(\[\s*[CT]\d+\]\s*)?")
# A kernel line that landed inside another line (agent output, say): its timestamp starts it.
EMBEDDED = re.compile(r"(?:<\d+>)?\[\s*\d+\.\d+\]\s*(?:\[\s*[CT]\d+\]\s*)?")


@dataclass(frozen=True)
class Header:
    pattern: re.Pattern
    kind: str          # coarse class: panic, bug, oops, warning, kasan, ubsan, lockup, hang, stall, info
    label: str         # the title's kind; {0}, {1} take the pattern's groups


def _h(pattern: str, kind: str, label: str) -> Header:
    return Header(re.compile(pattern), kind, label)


# Matched at the start of a line (timestamp stripped); the first that matches wins, so the specific
# forms come before the generic "BUG:", "WARNING:" and "INFO:".
HEADERS = (
    _h(r"(?:watchdog: )?BUG: soft lockup - CPU#\d+ stuck for \d+s!", "lockup", "soft lockup"),
    _h(r"watchdog: Watchdog detected hard LOCKUP on cpu \d+", "lockup", "hard lockup"),
    _h(r"INFO: task .+:\d+ blocked for more than \d+ seconds\.", "hang", "hung task"),
    _h(r"(?:rcu: )?INFO: rcu_\w+ (?:self-)?detected (?:expedited )?stalls?", "stall", "rcu stall"),
    _h(r"BUG: KASAN: ([\w-]+)", "kasan", "KASAN: {0}"),
    _h(r"BUG: KFENCE: ([\w-]+(?: [\w-]+)*?)(?: in |$)", "kasan", "KFENCE: {0}"),
    _h(r"UBSAN: (.+?) in ", "ubsan", "UBSAN: {0}"),
    _h(r"WARNING: CPU: \d+ PID: \d+ at ", "warning", "WARNING"),
    _h(r"[Kk]ernel BUG at ", "bug", "kernel BUG"),
    _h(r"Unable to handle kernel NULL pointer dereference", "oops", "NULL pointer dereference"),
    _h(r"Unable to handle kernel (.+?) at virtual address", "oops", "{0}"),
    _h(r"Internal error: ([^:]+):", "oops", "{0}"),
    _h(r"Unhandled fault:", "oops", "unhandled fault"),
    _h(r"BUG: ([A-Za-z][^:!]*?)(?: at | in | - |:|!|$)", "bug", "BUG: {0}"),
    _h(r"WARNING: ([A-Za-z][^:!]*?)(?: at | in |:|!|$)", "warning", "WARNING: {0}"),
    _h(r"INFO: (?!lockdep is turned off)([A-Za-z][^:!]*?)(?: at | in |:|!|\.|$)", "info", "INFO: {0}"),
    _h(r"Kernel panic - not syncing: (.*)", "panic", "panic: {0}"),
)
# Lines that close a report, so the wait can stop before the grace period.
REPORT_END = re.compile(r"---\[ end (trace|Kernel panic)")
ADDRESS = re.compile(r"\b(0x)?[0-9a-f]{8,16}\b")
OFFSET = re.compile(r"\+0x[0-9a-f]+/0x[0-9a-f]+")


@dataclass
class ReportStart:
    kind: str
    title: str          # the header line without addresses and offsets (for messages)
    label: str = ""     # the report's kind as a title begins ("soft lockup", "KASAN: slab-out-of-bounds")
    header: str = ""    # the header line as printed, timestamp stripped


def strip_timestamp(line: str) -> str:
    return TIMESTAMP.sub("", line, count=1)


def match_header(text: str) -> tuple[Header, re.Match] | None:
    """The header a console line (timestamp stripped) starts with, and its match."""
    for header in HEADERS:
        match = header.pattern.match(text)
        if match:
            return header, match
    return None


def report_start(line: str, ignore: list[re.Pattern] | None = None) -> ReportStart | None:
    """The report this console line starts, if any: at the line's start or after a kernel
    timestamp inside it."""
    candidates = [strip_timestamp(line).strip()]
    candidates += [line[m.end():].strip() for m in EMBEDDED.finditer(line) if m.start() > 0]
    for text in candidates:
        found = match_header(text)
        if found:
            if any(p.search(text) for p in ignore or []):
                return None
            header, match = found
            return ReportStart(header.kind, title(text), label(header, match), text)
    return None


def label(header: Header, match: re.Match) -> str:
    return header.label.format(*[_generic(g) for g in match.groups()])


def _generic(text: str) -> str:
    """Numbers and addresses out, so one bug keeps one label across runs."""
    text = ADDRESS.sub("ADDR", text.strip())
    return re.sub(r"\b\d+\b", "N", text)


def title(text: str) -> str:
    """A stable title for deduplication: addresses and function offsets removed."""
    return ADDRESS.sub("ADDR", OFFSET.sub("", text)).strip()


def is_report_end(line: str) -> bool:
    return bool(REPORT_END.search(line))
