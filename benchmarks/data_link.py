"""Benchmark: a file to and from a board over its data link, the console against the network, in
one run on the same machine and kernel: qemu-virt-0 (console only) and qemu-virt-data (a guest-only
QEMU network with a forward from 127.0.0.1). Prints seconds and KiB/s each way, and the network's
speed-up over the console.

    python benchmarks/data_link.py [--mib 1] [--console-kib 256]

The console's figure comes from a smaller file (--console-kib): it is per byte, and a MiB takes it
minutes each way.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sisctl.board.board import Board  # noqa: E402
from sisctl.board.spec import find_board  # noqa: E402
from sisctl.build.builder import build  # noqa: E402
from sisctl.build.recipe import find_recipe  # noqa: E402


def both_ways(board_name: str, size: int, artifact) -> tuple[str, float, float]:
    """The link's name and seconds to the board and back for `size` random bytes."""
    board = Board(find_board(board_name))
    board.flash(artifact)
    data = os.urandom(size)
    with board.session(label="data-link-bench") as session:
        link = session.link
        started = time.monotonic()
        link.put(data, "/tmp/bench.bin")
        put_s = time.monotonic() - started
        started = time.monotonic()
        back = link.get("/tmp/bench.bin")
        get_s = time.monotonic() - started
    if back != data:
        raise SystemExit(f"{board_name}: the file came back different")
    return link.name, put_s, get_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1)
    parser.add_argument("--console-kib", type=int, default=256)
    args = parser.parse_args()
    artifact = build(find_recipe("debian-arm64"))
    rows = [("qemu-virt-0", args.console_kib << 10), ("qemu-virt-data", args.mib << 20)]
    rates = {}
    print(f"{'board':16} {'link':8} {'bytes':>9} {'to board':>10} {'KiB/s':>8} {'from board':>10} {'KiB/s':>8}")
    for name, size in rows:
        link, put_s, get_s = both_ways(name, size, artifact)
        rates[link] = (size / 1024 / put_s, size / 1024 / get_s)
        print(f"{name:16} {link:8} {size:9} {put_s:9.2f}s {rates[link][0]:8.0f} {get_s:9.2f}s {rates[link][1]:8.0f}")
    up, down = (rates["network"][i] / rates["console"][i] for i in (0, 1))
    print(f"network against console: {up:.0f}x to the board, {down:.0f}x from it")


if __name__ == "__main__":
    main()
