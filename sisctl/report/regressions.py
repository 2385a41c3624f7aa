"""What a plan run's results mean against the runs before it: new failures first.

Each case of the new run, against the same case (job and name) in earlier runs of the plan:
  new failure    it fails now and passed last time, and is not flaky: a regression; named with
                 the last run that passed and this, the first that failed, with their kernels
  still failing  it failed last time too (since: the first failure of the streak)
  fixed          it passes now and failed last time
  flaky          it fails now, and over the last FLAKY_WINDOW runs on the same kernel build it
                 both passed and failed: not a regression
  known issue    it fails and lab/known-issues.yaml has a pattern for it (the reason and link shown)
  new test       it was never seen before
History informs: the run's own verdict and exit code stay what its tests decided.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sisctl import config
from sisctl.config import Regex
from sisctl.labfile import lab_file
from sisctl.report.history import CaseResult

FLAKY_WINDOW = 10
CLASSES = ("new failure", "still failing", "fixed", "flaky", "known issue", "new test")


@dataclass
class KnownIssue:
    pattern: Regex               # searched in "JOB.CASE" and the first line of the failure
    reason: str
    link: str = ""

    def matches(self, result: CaseResult) -> bool:
        return bool(re.search(self.pattern, f"{result.job}.{result.name}\n{result.detail}"))


@dataclass
class KnownIssues:
    """lab/known-issues.yaml: `known_issues: [{pattern, reason, link}]`."""
    known_issues: list[KnownIssue] = field(default_factory=list)


@dataclass
class Verdict:
    case: CaseResult
    kind: str                      # one of CLASSES
    last_pass: CaseResult | None = None
    first_fail: CaseResult | None = None
    note: str = ""                 # a known issue's reason and link; a flaky case's pattern

    def as_dict(self) -> dict:
        def run(r: CaseResult | None) -> dict | None:
            return None if r is None else {"run": r.run, "kernel": r.kernel, "build_id": r.build_id,
                                           "report": r.report}
        return {"job": self.case.job, "case": self.case.name, "class": self.kind, "outcome": self.case.outcome,
                "detail": self.case.detail, "board": self.case.board, "kernel": self.case.kernel,
                "last_pass": run(self.last_pass), "first_fail": run(self.first_fail), "note": self.note}


def known_issues_file() -> Path:
    """lab/known-issues.yaml, beside the lab file."""
    return lab_file().with_name("known-issues.yaml")


def load_known_issues(path: Path) -> list[KnownIssue]:
    """The known issues of a lab; none when it has no such file."""
    if not path.exists():
        return []
    issues = config.load(KnownIssues, path).known_issues
    for i, issue in enumerate(issues):
        if not issue.pattern.strip():   # it would match every failure
            raise config.ConfigError(path, f"known_issues[{i}].pattern", "an empty pattern would make every "
                                     "failure a known issue")
    return issues


def classify(cases: list[CaseResult], earlier: dict[tuple[str, str], list[CaseResult]],
             known: list[KnownIssue] = ()) -> list[Verdict]:
    """The verdicts worth saying of a run's cases (passing cases that were passing say nothing)."""
    found = []
    for case in cases:
        before = earlier.get((case.job, case.name), [])
        verdict = _verdict(case, before, known)
        if verdict is not None:
            found.append(verdict)
    found.sort(key=lambda v: (CLASSES.index(v.kind), v.case.job, v.case.name))
    return found


def _verdict(case: CaseResult, before: list[CaseResult], known: list[KnownIssue]) -> Verdict | None:
    ran = [r for r in before if r.outcome != "skip"]
    if case.outcome == "skip":
        return None
    if not before:
        return Verdict(case, "new test")
    last = ran[-1] if ran else None
    if not case.bad:
        return Verdict(case, "fixed", first_fail=_streak_start(ran)) if last is not None and last.bad else None
    issue = next((k for k in known if k.matches(case)), None)
    if issue is not None:
        return Verdict(case, "known issue", note=f"{issue.reason} {issue.link}".strip())
    last_pass = next((r for r in reversed(ran) if not r.bad), None)
    if last is not None and last.bad:
        return Verdict(case, "still failing", last_pass, _streak_start(ran))
    same_kernel = [r for r in ran if r.build_id == case.build_id][-FLAKY_WINDOW:]
    if any(r.bad for r in same_kernel) and any(not r.bad for r in same_kernel):
        pattern = "".join("F" if r.bad else "P" for r in same_kernel) + "F"
        return Verdict(case, "flaky", last_pass, case, note=f"last {len(same_kernel) + 1} runs on this kernel: "
                                                                f"{pattern}")
    return Verdict(case, "new failure", last_pass, case)


def _streak_start(ran: list[CaseResult]) -> CaseResult | None:
    """The first failure of the failing streak that ends `ran`."""
    start = None
    for r in reversed(ran):
        if not r.bad:
            break
        start = r
    return start


def counts(verdicts: list[Verdict]) -> dict[str, int]:
    return {kind: sum(v.kind == kind for v in verdicts) for kind in CLASSES}
