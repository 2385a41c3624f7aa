"""Metric values from one workload run's output.

Agent workloads print `bench WORKLOAD FIGURE VALUE` lines (firmware/agent/bench.c); shell
commands are read with their suite's patterns. A counter the kernel cannot count is absent
from the result (it was reported unsupported), never 0.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sisctl.campaign.bench.suite import Workload


class OutputError(ValueError):
    """A workload's output lacks what its metrics need."""


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    unit: str
    better: str      # lower or higher


def agent_figures(workload: str, stdout: str) -> tuple[dict[str, float], dict[str, int]]:
    """The figures of `workload` and the unsupported counters (name -> errno)."""
    figures: dict[str, float] = {}
    unsupported: dict[str, int] = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[0] != "bench" or parts[1] != workload or parts[2] == "skipped":
            continue
        if parts[3] == "unsupported":
            unsupported[parts[2]] = int(parts[4]) if len(parts) > 4 and parts[4].isdigit() else 0
            continue
        try:
            figures[parts[2]] = float(parts[3])
        except ValueError:
            raise OutputError(f"bench {workload}: unreadable line {line!r}") from None
    return figures, unsupported


def skipped_reason(workload: str, stdout: str) -> str:
    """Why the agent did not run `workload` on this machine ('bench W skipped REASON'), or ''."""
    for line in stdout.splitlines():
        parts = line.split(maxsplit=3)
        if parts[:3] == ["bench", workload, "skipped"]:
            return parts[3] if len(parts) > 3 else "no reason given"
    return ""


def kernel_identity(stdout: str) -> dict[str, str]:
    """`sisagent bench kernel`: the running kernel's build_id, release and online cpus."""
    found = {}
    for line in stdout.splitlines():
        parts = line.split(maxsplit=3)
        if len(parts) == 4 and parts[:2] == ["bench", "kernel"] and not parts[3].startswith("unsupported"):
            found[parts[2]] = parts[3]
    return found


def agent_metrics(workload: str, stdout: str) -> list[Metric]:
    """Per-operation figures: ns_per_op (virtual time under icount), instructions_per_op when the
    counter counts, mib_per_s for sequential I/O, p50/p99 latency, jbd2 commit time."""
    figures, _ = agent_figures(workload, stdout)
    ops, ns = figures.get("ops"), figures.get("ns")
    if not ops or not ns:
        raise OutputError(f"bench {workload}: no 'ops' and 'ns' lines in its output")
    if "commits" in figures and "commit_us" not in figures:
        raise OutputError(f"bench {workload}: the journal committed nothing during the workload, so its "
                          "average commit time is not this run's")
    found = []
    if "bytes" in figures:
        found.append(Metric("mib_per_s", figures["bytes"] / (1 << 20) / (ns / 1e9), "MiB/s", "higher"))
    else:
        found.append(Metric("ns_per_op", ns / ops, "ns", "lower"))
    if "instructions" in figures:
        found.append(Metric("instructions_per_op", figures["instructions"] / ops, "instructions", "lower"))
    for pct in ("p50_ns", "p99_ns"):
        if pct in figures:
            found.append(Metric(pct, figures[pct], "ns", "lower"))
    if "commit_us" in figures:
        found.append(Metric("commit_us", figures["commit_us"], "us", "lower"))
    return found


def command_metrics(workload: Workload, stdout: str) -> list[Metric]:
    found = []
    for m in workload.metrics:
        match = re.search(m.pattern, stdout, re.MULTILINE)
        try:
            found.append(Metric(m.name, float(match.group(1)), m.unit, m.better))
        except (AttributeError, TypeError, ValueError):
            raise OutputError(f"{workload.name}: metric {m.name}: pattern {m.pattern!r} found no number "
                              "in the command's output") from None
    return found


def workload_metrics(workload: Workload, stdout: str) -> list[Metric]:
    if workload.agent is not None:
        return agent_metrics(str(workload.agent[0]), stdout)
    return command_metrics(workload, stdout)
