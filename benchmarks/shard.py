"""Benchmark: an ext4-crash campaign on one board against the same campaign sharded across two,
in one run: verified crash states per minute of each and their ratio.

Both campaigns have the same scenarios, runs and seed, so the same (scenario, run) units and
(where writes do not race) the same crash states. Boards are flashed and their ready snapshots
made by a warm-up campaign first, so neither side pays a cold boot. Besides wall-clock rates it
prints what does not depend on the host's load: states checked, and CPU seconds per state of this
controller (image replay, the oracle) and of its children (QEMU, e2fsck), with the load average.
Reports and the boards' state (flash, snapshots, locks) go to a temporary folder unless --state
names one, so the benchmark never waits for, or disturbs, someone else's use of the same boards.

    .venv/bin/python benchmarks/shard.py [--boards qemu-virt-0,qemu-virt-1] [--runs 4]

Measured on the 2-core machine while other jobs kept its load average at 8-11 (`--runs 3`: the
scenarios generated-2 and write_during_data_write, 6 units): one board 172 states in 135 s,
76 states/min; two boards 171 states in 100 s, 103 states/min (57 per board); ratio 1.35x.
CPU per state hardly moved (QEMU and e2fsck 0.32 s vs 0.36 s, this controller 0.021 vs 0.023 s):
the work is CPU-bound TCG emulation, so two boards can at best use both cores (2x on an idle
machine, less the host's e2fsck and image replay), and on a shared machine only the cores left over.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sisctl.campaign.core import runner  # noqa: E402

QUIET = lambda _: None  # noqa: E731


def cpu_seconds() -> tuple[float, float]:
    """(this process, its reaped children) user + system CPU seconds."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def measured(label: str, board: str, boards: str, options: dict, seed: int) -> dict:
    load_before = os.getloadavg()[0]
    cpu_before, started = cpu_seconds(), time.monotonic()
    summary = runner.start("ext4-crash", board, options, seed, progress=QUIET, boards=boards)
    wall = time.monotonic() - started
    cpu_after = cpu_seconds()
    if summary["status"] != "passed":
        raise SystemExit(f"{label}: {summary['status']} ({summary['reason']}); report {summary['report']}")
    states = summary["states"]
    own, children = (after - before for after, before in zip(cpu_after, cpu_before))
    return {"boards": summary["boards"], "states": states, "wall_s": round(wall, 1),
            "states_per_minute_wall": round(states / wall * 60, 1),
            "states_per_minute": summary["states_per_minute"],     # checked / time spent checking (the kind's)
            "per_board": summary.get("by_board"),
            "controller_cpu_s_per_state": round(own / states, 3), "qemu_e2fsck_cpu_s_per_state": round(children / states, 3),
            "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boards", default="qemu-virt-0,qemu-virt-1")
    parser.add_argument("--scenarios", default="generated-2,write_during_data_write")
    parser.add_argument("--runs", type=int, default=4, help="runs per scenario (units = scenarios x runs)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--state", default="", help="board state folder (default: a temporary one)")
    args = parser.parse_args()
    boards = [b.strip() for b in args.boards.split(",") if b.strip()]
    options = {"scenario": args.scenarios, "mode": "powerloss", "runs": args.runs}
    with tempfile.TemporaryDirectory(prefix="sisctl-bench-shard-") as tmp:
        os.environ["SISCTL_REPORTS"] = tmp
        os.environ["SISCTL_STATE"] = args.state or str(Path(tmp) / "state")
        # flashes a board never flashed and saves each board's ready snapshot for the campaign's disks
        runner.start("ext4-crash", boards[0], {"scenario": "generated-1", "runs": len(boards)}, 1,
                     progress=QUIET, boards=",".join(boards))
        one = measured("one board", boards[0], "", options, args.seed)
        print(f"one board: {json.dumps(one)}", file=sys.stderr)
        many = measured(f"{len(boards)} boards", boards[0], ",".join(boards), options, args.seed)
    ratio = many["states_per_minute_wall"] / one["states_per_minute_wall"]
    print(json.dumps({"cores": os.cpu_count(), "scenarios": args.scenarios, "runs": args.runs,
                      "one_board": one, "sharded": many, "ratio_wall": round(ratio, 2),
                      "ratio_checking": round(many["states_per_minute"] / one["states_per_minute"], 2)}, indent=1))
    print(f"ext4-crash states per minute: 1 board {one['states_per_minute_wall']}, {len(boards)} boards "
          f"{many['states_per_minute_wall']}, ratio {ratio:.2f}x ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
