"""Benchmark: the two samplers' rates and what they cost the workload, and the differential
profile's top three for the planted getppid cost, measured in one run on one board.

- In the guest (sisagent profile at 1000 Hz), on the board's flashed kernel and on
  linux-kbuild-debug: samples per CPU second, and the workload's own CPU time per operation (and,
  under -icount, its instructions per operation) against the same command unsampled, in the same
  boot, interleaved.
- From the host (QEMU's gdbstub at 100 Hz): samples per second, the guest's stopped share and the
  workload's wall time against unsampled, interleaved in one boot.
- linux-kbuild-debug against linux-kbuild-debug+planted_getppid_loops=1000 on the null syscall.
- `--campaigns`: what `--profile on` costs an ext4-crash campaign (states per minute) and a fuzz
  campaign (execs per second) on the board's flashed kernel, each run with and without it.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sisctl.board.board import Board  # noqa: E402
from sisctl.board.firstuse import ensure_flashed  # noqa: E402
from sisctl.board.gdbstub import HostSampler, gdb_args  # noqa: E402
from sisctl.board.spec import find_board  # noqa: E402
from sisctl.build.variant import parse_variant  # noqa: E402
from sisctl.campaign.core.runner import start  # noqa: E402
from sisctl.jobs.profile import run_profile_diff  # noqa: E402
from sisctl.net import free_port  # noqa: E402
from sisctl.profile.samples import parse_samples, profile_command  # noqa: E402

KERNEL, PLANTED = "linux-kbuild-debug", "linux-kbuild-debug+planted_getppid_loops=1000"


def figure(result, name: str) -> float:
    """A figure `sisagent bench` printed (task_clock_ns, instructions)."""
    text = (result.stdout + result.stderr).decode(errors="replace")
    found = re.search(rf"^bench \S+ {name} (\d+)", text, re.M)
    return float(found.group(1)) if found else float("nan")


def timed(session, command: str):
    started = time.monotonic()
    result = session.run(command, timeout_s=600)
    assert result.code == 0, result.stderr[-400:]
    return time.monotonic() - started, result


def guest(board: Board, artifact, command: str, ops: int, runs: int, icount: bool) -> dict:
    """The workload's own CPU time (task clock) and, under -icount, instructions per operation, with
    and without the sampler, interleaved in one boot; the sampler's rate over the workload's time."""
    per_op = {"plain": [], "sampled": []}
    rates = []
    name = "instructions" if icount else "task_clock_ns"
    with board.session(fast=artifact is None, artifact=artifact, label="bench-profile",
                       qemu_args=["-icount", "shift=0,sleep=off"] if icount else []) as session:
        for _ in range(runs):
            per_op["plain"].append(figure(timed(session, command)[1], name) / ops)
            result = timed(session, profile_command(command, 1000))[1]
            per_op["sampled"].append(figure(result, name) / ops)
            samples, _ = parse_samples(result.stderr.decode(errors="replace"))
            rates.append(samples.counted / (figure(result, "task_clock_ns") / 1e9))
    return {"per_op": {k: statistics.median(v) for k, v in per_op.items()}, "samples_per_s": statistics.median(rates)}


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


def campaigns(board: str, corpora: Path) -> None:
    """Each campaign with --profile off, then on, the same seed (a fuzz run from an empty corpus of
    its own): its rate and the samples it took."""
    runs = {"ext4-crash": ({"scenario": "generated-2,write_during_journal_commit", "runs": 1}, "states_per_minute",
                           "states per minute"),
            "fuzz": ({"target": "vfs-ops", "duration": "30s", "minimize": "off"}, "execs_per_s", "execs/s")}
    for kind, (options, key, unit) in runs.items():
        rate, samples = {}, 0
        for profile in ("off", "on"):
            corpus = {"corpus": str(corpora / profile)} if kind == "fuzz" else {}
            summary = start(kind, board, {**options, **corpus, "profile": profile}, 7, progress=lambda _: None)
            assert summary["status"] == "passed", summary.get("reason")
            rate[profile] = summary[key]
            samples = sum(p["counted"] for p in (summary.get("phase_profiles") or {}).values())
        print(f"{kind} --profile on: {rate['on']:.1f} {unit} against {rate['off']:.1f} off "
              f"({rate['on'] / rate['off']:.2f}x), {samples} samples")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="qemu-virt-0")
    parser.add_argument("--ops", type=int, default=1000000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--campaigns", action="store_true", help="only the campaigns' cost of --profile on")
    args = parser.parse_args()
    board = Board(find_board(args.board))
    ensure_flashed(board, progress=lambda _: None)
    if args.campaigns:
        with tempfile.TemporaryDirectory() as corpora:
            campaigns(args.board, Path(corpora))
        return
    artifact = parse_variant(KERNEL).build(progress=lambda _: None)
    command = f"sisagent bench null_syscall {args.ops}"
    for label, kernel in (("flashed kernel", None), (KERNEL, artifact)):
        inside = guest(board, kernel, command, args.ops, args.runs, icount=False)
        ns = inside["per_op"]
        print(f"in the guest at 1000 Hz, {label}: {inside['samples_per_s']:.0f} samples per CPU second; "
              f"{ns['sampled']:.0f} ns/op of task clock against {ns['plain']:.0f} unsampled "
              f"({ns['sampled'] / ns['plain']:.3f}x)")
    work = guest(board, artifact, command, args.ops, args.runs, icount=True)["per_op"]
    print(f"  {KERNEL} under -icount: {work['sampled']:.1f} instructions/op against {work['plain']:.1f} "
          f"({work['sampled'] / work['plain']:.3f}x, the work family's ratio)")
    outside = host(board, artifact, command, args.runs, 100)
    print(f"from the host at 100 Hz, {KERNEL}: {outside['samples_per_s']:.0f} samples/s; guest stopped "
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
