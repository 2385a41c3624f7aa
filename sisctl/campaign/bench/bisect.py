"""One `git bisect run` step: is the candidate (the kernel built at HEAD) bad for one metric?

Exit codes are git bisect's: 0 good, 1 bad, 125 skip (no boot, infrastructure trouble, or an
inconclusive comparison: a commit that cannot be judged is skipped, never guessed).
"""
from __future__ import annotations

from typing import Callable

from sisctl.campaign.bench.suite import load_suite, parse_metric
from sisctl.campaign.core import runner
from sisctl.errors import UsageError

GOOD, BAD, SKIP = 0, 1, 125


def metric_workload(metric: str, suite_name: str) -> tuple[str | None, str]:
    """(family or None, workload) of METRIC written [FAMILY:]WORKLOAD.METRIC, a workload of the suite."""
    family, workload, _ = parse_metric(metric)
    if workload not in {w.name for w in load_suite(suite_name).workloads}:
        raise UsageError(f"--metric {metric!r}: {workload!r} is not a workload of suite {suite_name}")
    return family, workload


def step_verdict(summary: dict, metric: str, family: str | None) -> tuple[int, str]:
    if summary["status"] == "error":
        return SKIP, f"skip: {summary.get('reason') or 'infrastructure error'}"
    name = metric.rpartition(":")[2]
    wanted = [m for m in summary.get("metrics", [])
              if m["key"].split(":", 1)[1] == name and (m["family"] == family if family else m["gate"])]
    if not wanted:
        return SKIP, f"skip: the campaign measured no {metric}"
    m = wanted[0]
    change = "-" if m["ratio"] is None else f"{(m['ratio'] - 1) * 100:+.1f}%"
    if m["verdict"] == "regressed":
        return BAD, f"bad: {m['key']} regressed {change}"
    if m["verdict"] == "inconclusive":
        return SKIP, f"skip: {m['key']} inconclusive ({m['reason']})"
    return GOOD, f"good: {m['key']} {m['verdict']} {change}"


def bisect_step(board: str, good: str, bad: str, metric: str, suite: str = "default", budget: str = "10m",
                seed: int = 1, progress: Callable[[str], None] = print) -> tuple[int, str]:
    family, workload = metric_workload(metric, suite)
    summary = runner.start("bench", board, {"baseline": good, "candidate": bad, "suite": suite, "budget": budget,
                                            "workloads": [workload]}, seed, progress)
    return step_verdict(summary, metric, family)
