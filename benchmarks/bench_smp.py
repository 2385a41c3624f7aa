"""Benchmark: pipe ping-pong with both ends on one CPU and on two, on a two-vCPU QEMU board.

Records an A/A campaign (one variant against itself, a fixed number of blocks, both families) of
the two ping-pong workloads, or reads one given with --from, and prints per family and workload:
the median per round trip over every measured run (virtual ns under -icount in the work family,
wall ns in the time family; instructions where they count), the spread between runs of one boot
and between blocks (sd of the block log ratios: what the gate sees), and cross / same.
Under -icount QEMU runs the vCPUs in turn on one host thread (no multi-threaded TCG), so the
work family's cross-CPU cost is that round-robin's, not a real machine's.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_planted import ensure_flashed  # noqa: E402
from sisctl.campaign.bench.analysis import block_values, complete_runs  # noqa: E402
from sisctl.campaign.core import runner  # noqa: E402
from sisctl.campaign.core.records import read_records  # noqa: E402

SUITE = """# same-CPU vs cross-CPU pipe ping-pong, a fixed number of blocks
families: [work, time]
reps: {reps}
min_blocks: {blocks}
max_blocks: {blocks}
workloads:
  - {{name: pipe_pingpong, agent: [pipe_pingpong, {n}]}}
  - {{name: pipe_pingpong_cross, agent: [pipe_pingpong_cross, {n}]}}
"""
WORKLOADS = ("pipe_pingpong", "pipe_pingpong_cross")


def record(board: str, variant: str, blocks: int, reps: int, n: int, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    suite = folder / "smp-suite.yaml"
    suite.write_text(SUITE.format(blocks=blocks, reps=reps, n=n))
    ensure_flashed(board, variant.split("+")[0])
    summary = runner.start("bench", board, {"baseline": variant, "candidate": variant, "suite": str(suite),
                                            "budget": "3h"}, 1, progress=lambda _: None)
    print(f"recorded {summary['blocks']} blocks in {summary['elapsed_s']:.0f} s: {summary['report']}")
    return Path(summary["report"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="qemu-virt-smp2")
    parser.add_argument("--variant", default="linux-kbuild")
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--round-trips", type=int, default=500)
    parser.add_argument("--from", dest="source", help="a recorded campaign folder instead of recording one")
    args = parser.parse_args()
    folder = Path(args.source) if args.source else record(args.board, args.variant, args.blocks, args.reps,
                                                          args.round_trips, Path("reports") / "bench-smp")
    records = list(read_records(folder / "records.jsonl"))
    runs = complete_runs(records)
    blocks = block_values(records)
    print(f"\n{'family':6} {'workload':20} {'metric':20} {'median':>12} {'in-boot cv':>10} {'block sd':>9}")
    medians = {}
    for family in ("work", "time"):
        for workload in WORKLOADS:
            mine = [r for r in runs if r["family"] == family and r["workload"] == workload]
            for metric in ("ns_per_op", "instructions_per_op"):
                values = [r["metrics"][metric]["value"] for r in mine if metric in r["metrics"]]
                if not values:
                    continue
                per_boot: dict = {}
                for r in mine:
                    if metric in r["metrics"]:
                        per_boot.setdefault((r["block"], r["slot"]), []).append(r["metrics"][metric]["value"])
                cv = statistics.median(statistics.stdev(v) / statistics.mean(v) for v in per_boot.values())
                entry = blocks[f"{family}:{workload}.{metric}"]["blocks"]
                logs = [math.log(statistics.median(c) / statistics.median(b)) for b, c in entry.values()]
                medians[family, workload, metric] = statistics.median(values)
                print(f"{family:6} {workload:20} {metric:20} {statistics.median(values):12.0f} {cv:10.2%} "
                      f"{statistics.stdev(logs) if len(logs) > 1 else float('nan'):9.2%}")
    print()
    for (family, workload, metric), value in sorted(medians.items()):
        if workload == WORKLOADS[1] and (family, WORKLOADS[0], metric) in medians:
            print(f"{family} {metric}: cross / same CPU = {value / medians[family, WORKLOADS[0], metric]:.2f}")


if __name__ == "__main__":
    main()
