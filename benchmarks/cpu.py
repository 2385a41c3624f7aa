"""Benchmark: which `-cpu` a QEMU board should run, measured in one run on the same kernel.

For each CPU option (`max` first, the baseline): cold boots to the agent, a syscall-heavy command
(100k one-byte reads and writes) timed in wall time, and, under `-icount shift=0` (the benchmark
campaign's work family), the instructions per null syscall the PMU counts. Prints a table with
each figure as a ratio against `max`; the instruction counts must be the same for every option,
or the benchmark gate's figures would depend on the CPU option. `invoke speed.cpu` runs it.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sisctl.board.board import Board  # noqa: E402
from sisctl.board.spec import find_board  # noqa: E402
from sisctl.build.builder import build  # noqa: E402
from sisctl.build.recipe import find_recipe  # noqa: E402
from sisctl.campaign.bench.metrics import agent_metrics  # noqa: E402

CPUS = ("max", "max,pauth-impdef=on", "max,pauth=off", "cortex-a72")
SYSCALLS = "dd if=/dev/zero of=/dev/null bs=1 count=100000 2>/dev/null"
NULL_SYSCALL = "sisagent bench null_syscall 5000"


def measure(board: Board, artifact) -> dict:
    """One cold boot, the syscall command's wall time, and instructions per null syscall (icount)."""
    with board.session(fast=False, artifact=artifact, label="cpu") as session:
        boot_s = session.boot_s
        started = time.monotonic()
        session.run(SYSCALLS, timeout_s=300)
        syscalls_s = time.monotonic() - started
    with board.session(fast=False, artifact=artifact, label="cpu-icount",
                       qemu_args=["-icount", "shift=0,sleep=off"]) as session:
        metrics = {m.name: m.value for m in agent_metrics("null_syscall", session.run(NULL_SYSCALL, 120).text)}
    return {"boot_s": boot_s, "syscalls_s": syscalls_s, "instructions_per_op": metrics.get("instructions_per_op")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--board", default="qemu-virt-0", help="a QEMU board; its default recipe is booted")
    parser.add_argument("--runs", type=int, default=3, help="interleaved rounds over every CPU option")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    spec = find_board(args.board)
    if spec.qemu is None:
        parser.error(f"{spec.name} is not a QEMU board")
    artifact = build(find_recipe(spec.recipe), progress=lambda _: None)
    results: dict[str, list[dict]] = {cpu: [] for cpu in CPUS}
    with tempfile.TemporaryDirectory(prefix="sisctl-cpu-") as state:
        boards = {cpu: Board(dataclasses.replace(spec, qemu=dataclasses.replace(spec.qemu, cpu=cpu)),
                             state_root=Path(state) / cpu.replace(",", "_")) for cpu in CPUS}
        for run in range(args.runs):          # interleaved, so every option sees the same machine load
            for cpu, board in boards.items():
                results[cpu].append(measure(board, artifact))
                if not args.json:
                    r = results[cpu][-1]
                    print(f"run {run + 1} {cpu:22s} boot {r['boot_s']:6.2f} s  100k syscalls {r['syscalls_s']:6.2f} s  "
                          f"instructions/null syscall {r['instructions_per_op']}")
    table = {cpu: {key: statistics.median(r[key] for r in rows) for key in ("boot_s", "syscalls_s")}
             | {"instructions_per_op": sorted({r["instructions_per_op"] for r in rows}, key=str)}
             for cpu, rows in results.items()}
    base = table[CPUS[0]]
    for cpu, row in table.items():
        row["boot_vs_max"] = round(base["boot_s"] / row["boot_s"], 2)
        row["syscalls_vs_max"] = round(base["syscalls_s"] / row["syscalls_s"], 2)
    if args.json:
        print(json.dumps({"board": spec.name, "runs": args.runs, "cpus": table}))
        return
    print(f"\n{spec.name}, {args.runs} runs each, medians; 'x' = how many times faster than max")
    for cpu, row in table.items():
        print(f"{cpu:22s} cold boot {row['boot_s']:6.2f} s ({row['boot_vs_max']:4.2f}x)   "
              f"100k syscalls {row['syscalls_s']:6.2f} s ({row['syscalls_vs_max']:4.2f}x)   "
              f"instructions/null syscall under icount {row['instructions_per_op']}")


if __name__ == "__main__":
    main()
