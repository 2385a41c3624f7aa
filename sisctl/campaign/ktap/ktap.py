"""Read KTAP (KUnit's and kselftest's TAP dialect) from a console log into a tree of test results.

KTAP v1, with the TAP 13/14 forms KUnit and kselftest print:
  KTAP version 1 | TAP version 14     a (sub)test's header
  # Subtest: NAME                     names the subtest that follows (KUnit)
  1..N                                the plan: N subtests
  ok|not ok N [-] NAME [# SKIP|TODO reason]   a result; closes a subtest that had a header
  # text                              a diagnostic: kept with the next result at its depth
Nesting is told by indentation (KUnit indents each level by a tab or four spaces); a console's
printk timestamps and caller ids are removed first, kernel messages in between are told apart
by being less indented than the tests they interrupt, and a kernel report (a panic, an oops)
ends the tree where it is: every test still open is an error with the report's title, never a pass.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from sisctl.board.oops import report_start

PREFIX = re.compile(r"^\s*(?:<\d+>)?\[\s*\d+\.\d+\] ?(?:\[\s*[CT]\d+\] ?)?")
VERSION = re.compile(r"^(K?TAP) version (\d+)\s*$")
SUBTEST = re.compile(r"^# Subtest: (.*?)\s*$")
PLAN = re.compile(r"^1\.\.(\d+)\b")
RESULT = re.compile(r"^(not ok|ok) (\d+)(?: -)?(?: ([^#]*?))?\s*(?:#\s*(SKIP|TODO|skip|todo)\b:?\s*(.*?))?\s*$")
DIAGNOSTIC = re.compile(r"^# ?(.*)$")

SEVERITY = {"": -1, "skip": 0, "pass": 0, "fail": 1, "error": 2}


@dataclass
class Test:
    """One test of the tree: a leaf, or a suite of subtests with a plan."""
    name: str = ""
    number: int = 0
    status: str = ""            # pass, fail, skip or error ("" while it is open)
    reason: str = ""            # a skip's reason, a TODO's text, or why it is an error
    diagnostics: list[str] = field(default_factory=list)
    subtests: list[Test] = field(default_factory=list)
    plan: int | None = None
    depth: int = -1             # indentation, in columns

    def leaves(self, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Test]]:
        """(path, test) of every test without subtests under this one, in the order they ran."""
        found = []
        for test in self.subtests:
            path = prefix + (test.name or f"test-{test.number}",)
            found += test.leaves(path) if test.subtests else [(path, test)]
        return found


@dataclass
class Parsed:
    root: Test
    found: bool                   # a KTAP header was seen at all
    crash: str = ""               # the title of a kernel report that cut the output short
    open_path: tuple[str, ...] = ()   # the suites still open when it ended (crash or end of output)


def strip_prefix(line: str) -> str:
    return PREFIX.sub("", line.rstrip("\r\n"), count=1).expandtabs(8)


def parse(text: str) -> Parsed:
    """The KTAP tree of a console log: everything from the first version line on."""
    lines = [strip_prefix(line) for line in text.splitlines()]
    start = next((i for i, line in enumerate(lines) if VERSION.match(line.strip())), None)
    if start is None:
        return Parsed(Test(status="error", reason="no KTAP output"), found=False)
    root = Test(depth=_indent(lines[start]))
    stack = [root]
    pending: list[str] = []      # diagnostics waiting for the result they belong to
    report = ""                  # a kernel report printed while the next result's test ran
    crash = ""
    for line in lines[start + 1:]:
        text, depth = line.strip(), _indent(line)
        if not text:
            continue
        started = report_start(line)
        if started is not None:
            pending.append(started.header)
            if started.kind == "panic":
                crash = started.title
                break
            report = report or started.title
            continue
        header = VERSION.match(text) or SUBTEST.match(text) or PLAN.match(text)
        result = RESULT.match(text)
        if header and (depth > stack[-1].depth or not stack[-1].subtests):
            if depth > stack[-1].depth:
                stack.append(Test(depth=depth))
                stack[-2].subtests.append(stack[-1])
            if SUBTEST.match(text):
                stack[-1].name = SUBTEST.match(text).group(1)
            elif PLAN.match(text) and stack[-1].plan is None:
                stack[-1].plan = int(PLAN.match(text).group(1))
        elif result and depth >= stack[-1].depth:
            if depth > stack[-1].depth:   # leaves of a subtest that printed no header
                stack.append(Test(depth=depth))
                stack[-2].subtests.append(stack[-1])
            leaf = Test(depth=depth)
            _result(leaf, result, pending, report)
            stack[-1].subtests.append(leaf)
            pending, report = [], ""
        elif result:                      # closes the subtests deeper than it
            closing = stack.pop()
            while len(stack) > 1 and stack[-1].depth > depth:
                _unfinished(closing, "its subtests ended without a result line", [])
                closing = stack.pop()
            _result(closing, result, pending, report)
            pending, report = [], ""
        elif DIAGNOSTIC.match(text) and depth >= _floor(stack):
            pending.append(DIAGNOSTIC.match(text).group(1))
        elif len(stack) > 1 and depth >= _floor(stack) and depth > 0:
            pending.append(text)          # an assertion's detail lines (KUnit prints them unmarked)
    open_path = tuple(t.name or f"test-{t.number}" for t in stack[1:])
    why = f"the kernel crashed: {crash}" if crash else "the output ended before its result"
    innermost = stack[-1]
    if len(stack) > 1 and (innermost.plan is None or len(innermost.subtests) < innermost.plan):
        # the test that was running: its number is the next; its name only a test list can tell
        innermost.subtests.append(Test(number=len(innermost.subtests) + 1, status="error", reason=why,
                                       diagnostics=pending, depth=innermost.depth))
        pending = []
    for test in reversed(stack[1:]):
        _unfinished(test, why, pending)
        pending = []
    _settle(root)
    return Parsed(root, True, crash, open_path)


def _floor(stack: list[Test]) -> int:
    """Diagnostics belong to the next result if at least as indented as the outermost open suite
    (KUnit prints a parameterised case's assertion at its suite's depth, not the case's)."""
    return stack[1].depth if len(stack) > 1 else stack[0].depth


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _unfinished(test: Test, why: str, pending: list[str]) -> None:
    if not test.status:
        test.status, test.reason = "error", why
        test.diagnostics += pending


def _result(test: Test, match: re.Match, pending: list[str], report: str) -> None:
    word, number, name, directive, reason = match.groups()
    test.number, test.name = int(number), (name or "").strip() or test.name
    test.diagnostics += pending
    if report:
        test.status, test.reason = "error", f"kernel report: {report}"
    elif directive and directive.upper() == "SKIP":
        test.status, test.reason = "skip", reason or ""
    elif directive and directive.upper() == "TODO":
        test.status, test.reason = "skip", f"TODO {reason}".strip()
    else:
        test.status = "pass" if word == "ok" else "fail"


def _settle(test: Test) -> None:
    """Short plans are errors; a suite's status is its own or its worst subtest's."""
    for sub in test.subtests:
        _settle(sub)
    if test.plan is not None and len(test.subtests) < test.plan and test.status not in ("skip", "error"):
        test.status = "error"
        test.reason = f"planned {test.plan} tests, {test.plan - len(test.subtests)} never reported"
    worst = max((s.status for s in test.subtests), key=SEVERITY.get, default="pass")
    if not test.status or SEVERITY[worst] > SEVERITY[test.status]:   # a suite is as bad as its worst test
        test.status = worst
