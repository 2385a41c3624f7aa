"""Benchmark: does the regression gate find a planted change, and only there?

The candidate is the baseline kernel booted with a planted option. By default the baseline is
linux-kbuild-debug, whose getppid(2) spins `planted_getppid_loops` iterations (a patch that does
nothing unless the option is given): the null syscall workload pays a known cost, fork+exit and
the other workloads never call getppid. (An earlier choice, `init_on_alloc=1`, was dropped: page
zeroing is a few instructions per page under TCG, under fork+exit's run-to-run spread, and the
measured sign of its effect changed with the agent binary.)

Runs N campaigns baseline -> candidate (expect regressed where the change is) and N swapped
(expect improved), each with its own seed, and prints the verdict counts per metric.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sisctl.board.board import Board  # noqa: E402
from sisctl.board.errors import BoardError  # noqa: E402
from sisctl.board.spec import find_board  # noqa: E402
from sisctl.build.variant import parse_variant  # noqa: E402
from sisctl.campaign.core import runner  # noqa: E402


def ensure_flashed(board_name: str, recipe: str) -> None:
    """The campaign core records the flashed kernel's provenance: flash the baseline if needed."""
    board = Board(find_board(board_name))
    try:
        board.flashed()
    except BoardError:
        board.flash(parse_variant(recipe).build(), progress=lambda _: None)


def campaign(board: str, baseline: str, candidate: str, suite: str, budget: str, seed: int) -> dict:
    summary = runner.start("bench", board, {"baseline": baseline, "candidate": candidate, "suite": suite,
                                            "budget": budget}, seed, progress=lambda _: None)
    print(f"  seed {seed}: {summary['status']}: {summary['headline']} ({summary['elapsed_s']:.0f} s)", flush=True)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="qemu-virt-tiny")
    parser.add_argument("--baseline", default="linux-kbuild-debug")
    parser.add_argument("--planted", default="planted_getppid_loops=2", help="kernel option(s) planted in the candidate")
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--budget", default="10m")
    parser.add_argument("--campaigns", type=int, default=10)
    args = parser.parse_args()
    candidate = f"{args.baseline}+{args.planted}"
    ensure_flashed(args.board, parse_variant(args.baseline).recipe)
    counts: dict[str, dict[str, Counter]] = {"forward": {}, "swapped": {}}
    exits: dict[str, Counter] = {"forward": Counter(), "swapped": Counter()}
    for direction, (a, b) in (("forward", (args.baseline, candidate)), ("swapped", (candidate, args.baseline))):
        print(f"{direction}: {a} -> {b}", flush=True)
        for seed in range(1, args.campaigns + 1):
            summary = campaign(args.board, a, b, args.suite, args.budget, seed)
            exits[direction][runner.exit_code(summary)] += 1
            for m in summary.get("metrics", []):
                counts[direction].setdefault(m["key"], Counter())[m["verdict"]] += 1
    print(f"\nplanted: {args.planted} on {args.baseline}, board {args.board}, suite {args.suite}, "
          f"{args.campaigns} campaigns each way")
    print(f"{'metric':40} {'baseline->planted':32} {'planted->baseline':32}")
    for key in sorted(set(counts["forward"]) | set(counts["swapped"])):
        cells = [", ".join(f"{v} {n}" for v, n in sorted(counts[d].get(key, {}).items())) for d in counts]
        print(f"{key:40} {cells[0]:32} {cells[1]:32}")
    print(f"exit codes: forward {dict(exits['forward'])}, swapped {dict(exits['swapped'])}")


if __name__ == "__main__":
    main()
