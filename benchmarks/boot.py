"""Benchmark: cold boot-to-ready against snapshot-restore-to-ready on one board, measured in one run.

Prints each boot, the medians and the ratio. `invoke speed.boot` runs it.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sisctl.board.board import Board  # noqa: E402
from sisctl.board.spec import find_board  # noqa: E402
from sisctl.build.builder import build  # noqa: E402
from sisctl.build.recipe import find_recipe  # noqa: E402


def boot_once(board: Board, fast: bool) -> tuple[str, float, float]:
    """(boot mode, seconds to ready, seconds to a first command's answer)."""
    started = time.monotonic()
    with board.session(fast=fast, label="bench") as session:
        session.run("true")
        return session.boot_mode, session.boot_s, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--board", default="qemu-virt-0")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    spec = find_board(args.board)
    board = Board(spec)
    board.flash(build(find_recipe(spec.recipe), progress=lambda _: None), progress=lambda _: None)
    results: dict[str, list[float]] = {"cold": [], "snapshot": []}
    for _ in range(args.runs):   # interleaved, so both kinds see the same machine load
        for fast in (False, True):
            mode, ready_s, first_cmd_s = boot_once(board, fast)
            results["snapshot" if mode == "snapshot" else "cold"].append(ready_s)   # cold: direct or loader
            if not args.json:
                print(f"{mode:8s} boot to ready {ready_s:7.3f} s   (to first command answered {first_cmd_s:.3f} s)")
    cold, snap = statistics.median(results["cold"]), statistics.median(results["snapshot"])
    summary = {"board": spec.name, "runs": args.runs, "cold_median_s": round(cold, 3),
               "snapshot_median_s": round(snap, 3), "ratio": round(cold / snap, 1)}
    print(json.dumps(summary) if args.json else
          f"\n{spec.name}: cold {cold:.3f} s, snapshot restore {snap:.3f} s -> {cold / snap:.1f}x faster")


if __name__ == "__main__":
    main()
