"""`invoke bench.*`: tools around benchmark campaigns: a bisection step, and change points across campaigns."""
from __future__ import annotations

from invoke import Collection, Exit, task

from sisctl.cli.common import guard, say


@task(name="bisect-step",
      help={"good": "known-good variant, RECIPE[+KERNEL-OPTION...]", "bad": "variant under test (e.g. a recipe "
            "that builds HEAD)", "metric": "[FAMILY:]WORKLOAD.METRIC, e.g. work:fork_exit.instructions_per_op",
            "board": "board name or path", "suite": "suite holding the workload", "budget": "time budget",
            "seed": "campaign seed"})
@guard
def bench_bisect_step(c, good, bad, metric, board="qemu-virt-0", suite="default", budget="10m", seed=1):
    """For git bisect run: a benchmark campaign of one workload; exit 0 good, 1 bad, 125 skip."""
    from sisctl.campaign.bench.bisect import bisect_step
    code, line = bisect_step(board, good, bad, metric, suite, budget, int(seed))
    print(line)
    raise Exit(code=code)


@task(name="history",
      help={"board": "only this board", "metric": "only [FAMILY:]WORKLOAD.METRIC, e.g. work:fork_exit.instructions_per_op",
            "since": "only campaigns since then: 30d, 2w, 12h or a date (2026-11-01); default all",
            "min_change": "smallest change to name, in percent (default: each metric's minimum effect)",
            "json": "machine-readable output"})
@guard
def bench_history(c, board="", metric="", since="", min_change="", json_=False):
    """Change points (Apache Otava) in each metric's history per board and kernel, from past bench
    campaigns under the reports folder; written to the database as bench_change points. Exit 0 (history
    is information, not a gate), 2 for bad input."""
    from sisctl import paths
    from sisctl.campaign.bench.history import analyze, describe, parse_min_change, parse_since, write_changes
    reports = paths.reports_dir()
    found = analyze(reports, board or None, metric or None, parse_since(since) if since else None,
                    parse_min_change(min_change) if min_change != "" else None)
    changes = [c for _, cs in found for c in cs]
    where = write_changes(changes) if changes else "no change point: nothing written to the database"
    text = [line for s, cs in found for line in describe(s, cs)] or [f"no bench campaigns under {reports}"]
    say(json_, {"series": [{"series": s.key.label, "campaigns": len(s.values), "unit": s.unit,
                            "change_points": [c.as_dict() for c in cs]} for s, cs in found],
                "telemetry": where}, "\n".join(text + [where]))


bench = Collection("bench")
bench.add_task(bench_bisect_step)
bench.add_task(bench_history)
