"""Benchmark: the two samplers' rates and what they cost the workload, and the differential
profile's top three for the planted getppid cost, measured in one run on one board.

- In the guest (sisagent profile at 1000 Hz): samples per second, and the workload's wall time
  and (under -icount) its instructions per operation against the same command unsampled, in the
  same boot, interleaved.
- From the host (QEMU's gdbstub at 100 Hz): samples per second, the guest's stopped share and the
  workload's wall time against unsampled, interleaved in one boot.
- linux-kbuild-debug against linux-kbuild-debug+planted_getppid_loops=1000 on the null syscall.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sisctl.board.board import Board  # noqa: E402
from sisctl.board.firstuse import ensure_flashed  # noqa: E402
from sisctl.board.gdbstub import HostSampler, gdb_args  # noqa: E402
from sisctl.board.spec import find_board  # noqa: E402
from sisctl.build.variant import parse_variant  # noqa: E402
from sisctl.jobs.profile import run_profile_diff  # noqa: E402
from sisctl.net import free_port  # noqa: E402
from sisctl.profile.samples import parse_samples, profile_command  # noqa: E402

KERNEL, PLANTED = "linux-kbuild-debug", "linux-kbuild-debug+planted_getppid_loops=1000"


def figure(stderr: bytes, name: str) -> float:
    found = re.search(rf"^bench \S+ {name} (\d+)", stderr.decode(errors="replace"), re.M)
    return float(found.group(1)) if found else float("nan")


def timed(session, command: str):
    started = time.monotonic()
    result = session.run(command, timeout_s=600)
    assert result.code == 0, result.stderr[-400:]
    return time.monotonic() - started, result


def guest(board: Board, artifact, command: str, ops: int, runs: int, icount: bool) -> dict:
    plain, sampled, rates, per_op = [], [], [], {"plain": [], "sampled": []}
    with board.session(fast=False, artifact=artifact, label="bench-profile",
                       qemu_args=["-icount", "shift=0,sleep=off"] if icount else []) as session:
        for _ in range(runs):
            seconds, result = timed(session, command)
            plain.append(seconds)
            per_op["plain"].append(figure(result.stderr, "instructions") / ops)
            seconds, result = timed(session, profile_command(command, 1000))
            sampled.append(seconds)
            samples, rest = parse_samples(result.stderr.decode(errors="replace"))
            rates.append(samples.counted / seconds)
            per_op["sampled"].append(figure(rest.encode(), "instructions") / ops)
    return {"plain_s": statistics.median(plain), "sampled_s": statistics.median(sampled),
            "samples_per_s": statistics.median(rates),
            "instructions_per_op": {k: statistics.median(v) for k, v in per_op.items()}}


def host(board: Board, artifact, command: str, runs: int, hz: int) -> dict:
    port = free_port()
    plain, sampled, rates, stopped = [], [], [], []
    with board.session(fast=False, artifact=artifact, label="bench-profile-host",
                       qemu_args=gdb_args(port)) as session:
        for _ in range(runs):
            plain.append(timed(session, command)[0])
            with HostSampler(port, hz) as sampler:
                seconds = timed(session, command)[0]
            sampled.append(seconds)
            rates.append(sampler.samples / seconds)
            stopped.append(sampler.stopped_s / seconds)
    return {"plain_s": statistics.median(plain), "sampled_s": statistics.median(sampled),
            "samples_per_s": statistics.median(rates), "stopped_share": statistics.median(stopped)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="qemu-virt-0")
    parser.add_argument("--ops", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    board = Board(find_board(args.board))
    ensure_flashed(board, progress=lambda _: None)
    artifact = parse_variant(KERNEL).build(progress=lambda _: None)
    command = f"sisagent bench null_syscall {args.ops}"
    inside = guest(board, artifact, command, args.ops, args.runs, icount=False)
    work = guest(board, artifact, command, args.ops, args.runs, icount=True)
    outside = host(board, artifact, command, args.runs, 100)
    print(f"in the guest, 1000 Hz: {inside['samples_per_s']:.0f} samples/s; wall {inside['sampled_s']:.2f} s "
          f"against {inside['plain_s']:.2f} s unsampled ({inside['sampled_s'] / inside['plain_s']:.3f}x)")
    ipo = work["instructions_per_op"]
    print(f"  under -icount: {ipo['sampled']:.1f} instructions/op against {ipo['plain']:.1f} "
          f"({ipo['sampled'] / ipo['plain']:.3f}x, the work family's ratio)")
    print(f"from the host, 100 Hz: {outside['samples_per_s']:.0f} samples/s; guest stopped "
          f"{100 * outside['stopped_share']:.1f} % of the time; wall {outside['sampled_s']:.2f} s against "
          f"{outside['plain_s']:.2f} s ({outside['sampled_s'] / outside['plain_s']:.3f}x)")
    diff = run_profile_diff(args.board, "sisagent bench null_syscall 50000", KERNEL, PLANTED,
                            progress=lambda _: None)
    print("planted getppid cost, top growers (self share, baseline -> candidate):")
    for row in diff["growers"][:3]:
        print(f"  {row['function']}: {100 * row['before_share']:.1f} % -> {100 * row['after_share']:.1f} % "
              f"(p {row['p_value']:.1g})")


if __name__ == "__main__":
    main()
