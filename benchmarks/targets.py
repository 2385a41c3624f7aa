"""Benchmark: boots and command round trips of each kind of target, measured in one run.

- Boot to ready: direct kernel boot (qemu-virt-0) against UEFI firmware (qemu-virt-uefi), each
  cold and restored from its ready snapshot, interleaved.
- Command round trip (`true`, then `echo` of 1 KiB): sisctl's agent on the console
  (qemu-virt-0), the agent served over SSH (qemu-virt-ownos-ssh), exec channels over SSH (the
  same board with agent: false), the login shell on the console (qemu-virt-ownos-shell) and a
  kernel's own prompt (qemu-virt-seed-standin); medians, and each as a ratio to the agent's.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sisctl.board.board import Board  # noqa: E402
from sisctl.board.spec import find_board  # noqa: E402
from sisctl.board.firstuse import ensure_flashed  # noqa: E402

PASSWORD_VARIABLE = "SISCTL_STANDIN_PASSWORD"


def flashed(name: str, **target) -> Board:
    spec = find_board(name)
    if target:
        spec.target = dataclasses.replace(spec.target, **target)
    board = Board(spec)
    ensure_flashed(board, progress=lambda _: None)    # flashed once, with the board's default kernel
    return board


def boots(runs: int) -> dict[str, float]:
    boards = {"direct": flashed("qemu-virt-0"), "uefi": flashed("qemu-virt-uefi")}
    times: dict[str, list[float]] = {}
    for _ in range(runs):
        for kind, board in boards.items():
            for fast in (False, True):
                with board.session(fast=fast, label="bench-boot") as session:
                    how = "restored" if session.boot_mode == "snapshot" else "cold"
                    times.setdefault(f"{kind} {how}", []).append(session.boot_s)
    return {key: statistics.median(values) for key, values in times.items()}


def round_trips(board: Board, count: int) -> tuple[float, float]:
    """Median seconds of `true` and of a 1 KiB echo, in one session."""
    payload = "x" * 1024
    with board.session(label="bench-rtt") as session:
        session.run("true")     # warm: the first command may set things up
        small, large = [], []
        for _ in range(count):
            started = time.monotonic()
            session.run("true")
            small.append(time.monotonic() - started)
            started = time.monotonic()
            assert session.run(f"echo {payload}").text.strip() == payload or board.spec.target.kind == "prompt"
            large.append(time.monotonic() - started)
    return statistics.median(small), statistics.median(large)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="boots of each kind")
    parser.add_argument("--commands", type=int, default=20, help="commands per target")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault(PASSWORD_VARIABLE, "bench-password")
    boot = boots(args.runs)
    targets = {"agent (console)": flashed("qemu-virt-0"), "agent over ssh": flashed("qemu-virt-ownos-ssh"),
               "ssh exec": flashed("qemu-virt-ownos-ssh", agent=False),
               "shell (console login)": flashed("qemu-virt-ownos-shell"),
               "prompt (sis>)": flashed("qemu-virt-seed-standin")}
    trips = {name: round_trips(board, args.commands) for name, board in targets.items()}
    base = trips["agent (console)"][0]
    summary = {"boot_median_s": {k: round(v, 3) for k, v in boot.items()},
               "round_trip_ms": {k: {"true": round(a * 1000, 1), "echo_1k": round(b * 1000, 1),
                                     "vs_agent": round(a / base, 2)} for k, (a, b) in trips.items()}}
    if args.json:
        print(json.dumps(summary))
        return
    for key, value in boot.items():
        print(f"boot to ready, {key:18s} {value:7.2f} s")
    print(f"UEFI cold / direct cold: {boot['uefi cold'] / boot['direct cold']:.1f}x; "
          f"UEFI restored / direct restored: {boot['uefi restored'] / boot['direct restored']:.2f}x")
    for name, (small, large) in trips.items():
        print(f"round trip {name:22s} true {small * 1000:7.1f} ms  echo 1 KiB {large * 1000:7.1f} ms  "
              f"({small / base:.1f}x the agent's)")


if __name__ == "__main__":
    main()
