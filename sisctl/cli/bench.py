"""`invoke bench.*`: benchmark scripts that print their figures (ratios against a baseline of the same run)."""
from __future__ import annotations

import subprocess
import sys

from invoke import Collection, Exit, task

from sisctl.cli.common import guard
from sisctl.paths import PROJECT


def _script(name: str, *args: str) -> None:
    subprocess.run([sys.executable, str(PROJECT / "benchmarks" / name), *args], check=True)


@task(name="boot", help={"board": "board name or path", "runs": "boots of each kind"})
@guard
def bench_boot(c, board="qemu-virt-0", runs=3):
    """Benchmark: cold boot-to-ready vs snapshot-restore-to-ready, and their ratio."""
    _script("boot.py", "--board", board, "--runs", str(runs))


@task(name="crash", help={"board": "board name or path", "runs": "workload runs per scenario"})
@guard
def bench_crash(c, board="qemu-virt-0", runs=2):
    """Benchmark: verified ext4 crash states per minute, fast path vs a cold boot per state, and the ratio."""
    _script("crash.py", "--board", board, "--runs", str(runs))


@task(name="telemetry", help={"board": "board name or path"})
@guard
def bench_telemetry(c, board="qemu-virt-0"):
    """Benchmark: points/s into the local database, and the overhead of periodic PMU sampling."""
    _script("telemetry.py", "--board", board)


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


bench = Collection("bench")
bench.add_task(bench_telemetry)
bench.add_task(bench_boot)
bench.add_task(bench_crash)
bench.add_task(bench_bisect_step)
