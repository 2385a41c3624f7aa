"""Benchmark: fuzz throughput per VM, snapshot reset time, share of inputs that mount, and the time to
find the planted bug.

1. throughput (--seconds S on --board B): generated inputs of every target through one VM from the
   ready snapshot restored in place, one input per restore and --slots inputs per restore; prints
   execs/s, restore and host-side times, the share of inputs that mounted per target. Baseline in
   the same run: QEMU restarted from the snapshot for each input (-loadvm).
2. planted (--find-seeds N --find-cap-s C on qemu-virt-planted): fuzz campaigns (target ext4-image)
   until the planted WARN_ON in ext4_setattr is found or C seconds pass; median time to find over
   the seeds, with checksum repair for most inputs (the default) and for none (--no-repair too).
   Also prints, without a VM, the share of generated inputs that meet the planted condition.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sisctl.board.board import Board  # noqa: E402
from sisctl.board.firstuse import ensure_flashed  # noqa: E402
from sisctl.board.spec import find_board  # noqa: E402
from sisctl.campaign.core import runner  # noqa: E402
from sisctl.campaign.core.phases import table  # noqa: E402
from sisctl.campaign.core.records import read_records  # noqa: E402
from sisctl.campaign.fuzz import inputs  # noqa: E402
from sisctl.campaign.fuzz.campaign import next_input  # noqa: E402
from sisctl.board.qemu import Disk  # noqa: E402
from sisctl.campaign.fuzz.executor import (BOOT_APPEND, DISK, DISK_BYTES, OPS_OFFSET, Executor,  # noqa: E402
                                           guest_command, write_input)
from sisctl.campaign.fuzz.inputs import TARGETS, generate  # noqa: E402
from sisctl.campaign.fuzz.planted import TITLE, meets_planted_bug  # noqa: E402
from sisctl.campaign.fuzz.seeds import load_seeds  # noqa: E402


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:6.0f} ms" if values else "n/a"


def throughput(board: Board, seconds: float, slots: int, coverage: bool = False,
               targets: tuple[str, ...] = TARGETS) -> float:
    """execs/s over `seconds` with `slots` inputs per snapshot restore (and KCOV on, if asked), the
    inputs taking turns among `targets`."""
    seeds = load_seeds()
    work = Path(tempfile.mkdtemp(prefix="fuzz-bench-"))
    build, restore, total = [], [], []
    mounted = {t: [0, 0] for t in targets}
    n = 0
    with Executor(board, work, slots=slots, coverage=coverage) as executor:
        executor.run_batch([_one(seeds, k, work, k, targets)[:2] for k in range(slots)])   # boots; not counted
        executor.phases.reset()
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            t0 = time.monotonic()
            with executor.phases("image build (mutation, debugfs)"):
                made = [_one(seeds, n + k, work, k, targets) for k in range(slots)]
            t1 = time.monotonic()
            results = executor.run_batch([m[:2] for m in made])
            build.append((t1 - t0) / slots)
            total.append((time.monotonic() - t0) / slots)
            for (_, _, target), result in zip(made, results):
                if not result.crashed and not result.booted:
                    restore.append(result.restore_s)
                mounted[target][0] += int(result.mount == 0)
                mounted[target][1] += 1
            n += slots
    elapsed = time.monotonic() - started
    print(f"phases per exec ({n} execs):\n{table(executor.phases.as_dict(), n, 'exec')}")
    print(f"{board.name}, {slots} input(s) per restore{', KCOV on' if coverage else ''}: {n} execs in "
          f"{elapsed:.0f} s = {n / elapsed:.2f} execs/s on one VM")
    print(f"  per exec: host image build {ms(build)}, snapshot restore {ms(restore)} (shared by the batch), "
          f"total {ms(total)}")
    for target, (ok, runs) in mounted.items():
        print(f"  {target:10s} {ok}/{runs} inputs mounted ({ok / runs:.0%})" if runs else f"  {target}: none")
    return n / elapsed


def restart_baseline(board: Board, inputs_n: int) -> float:
    """Baseline: QEMU restarted from the ready snapshot (-loadvm) for every input."""
    seeds = load_seeds()
    work = Path(tempfile.mkdtemp(prefix="fuzz-bench-"))
    disk = Disk(f"{DISK}0", work / "disk0.img", flushes=False)   # as the executor's
    with open(disk.image, "wb") as f:
        f.truncate(DISK_BYTES)
    times = []
    for k in range(inputs_n + 1):   # the first one may boot cold to make the ready snapshot: not counted
        image, ops, _ = _one(seeds, 10_000 + k, work, 0)
        t0 = time.monotonic()
        with open(disk.image, "r+b") as f:
            write_input(f, image.read_bytes(), ops, stale=OPS_OFFSET)   # whatever an earlier image left
        with board.session(label="fuzz-baseline", append=BOOT_APPEND, disks=[disk]) as session:
            session.run(guest_command(1), timeout_s=20)
        if k:
            times.append(time.monotonic() - t0)
    rate = 1 / statistics.median(times)
    print(f"baseline, QEMU restarted with -loadvm per input: {ms(times)} per exec = {rate:.2f} execs/s")
    return rate


def _one(seeds: dict, n: int, work: Path, slot: int, targets: tuple[str, ...] = TARGETS):
    target = targets[n % len(targets)]
    fuzz_input = generate(random.Random(n), target, seeds)
    image = work / f"input{slot}.img"
    fuzz_input.build_image(seeds, image)
    return image, fuzz_input.ops, target


def condition_share(repair: bool, count: int = 20000) -> float:
    seeds = load_seeds()
    share = inputs.REPAIR_SHARE if repair else 0.0
    made = [next_input(s, i, ["ext4-image"], seeds, None, share) for s in range(1, 6) for i in range(count // 5)]
    made = [m for m in made if m]
    return sum(meets_planted_bug(m, seeds) for m in made) / len(made)


def find_planted(seed: int, cap_s: float, options: dict | None = None, board: str = "qemu-virt-planted") -> dict:
    """One campaign on `board` (the planted kernel; target ext4-image) that stops at the planted bug or
    after `cap_s` of fuzzing: seconds and execs until the bug (None when not found), coverage reached."""
    corpus = tempfile.mkdtemp(prefix="fuzz-corpus-")
    summary = runner.start("fuzz", board,
                           {"target": "ext4-image", "duration": f"{cap_s:g}s", "corpus": corpus, "stop_on": TITLE,
                            "minimize": "off", **(options or {})}, seed, progress=lambda _: None)
    if summary["status"] in ("error", "aborted"):     # not a search that failed: no figure at all
        raise RuntimeError(f"{summary['campaign']}: {summary['status']}: {summary.get('reason')}")
    records = list(read_records(Path(summary["report"]) / "records.jsonl"))
    found = {"seconds": None, "execs": None, "total_execs": summary["execs"], "campaign": Path(summary["report"]).name,
             "coverage": (summary.get("coverage_growth") or {}).get("campaign", {}).get("total", {}).get("pcs")}
    hit = next((r["exec"] for r in records if r.get("type") == "crash" and r["title"] == TITLE), None)
    if hit is None:
        return found
    spent = 0.0
    for batch in (r for r in records if r.get("type") == "batch"):
        if batch["first_exec"] + batch["execs"] > hit:
            spent += batch["seconds"] * (hit - batch["first_exec"] + 1) / batch["execs"]
            break
        spent += batch["seconds"]
    return {**found, "seconds": spent, "execs": hit + 1}


def planted(seeds_n: int, cap_s: float, no_repair: bool) -> None:
    for repair in (True, False) if no_repair else (True,):
        share = condition_share(repair)
        print(f"planted condition met by {share:.4%} of generated ext4-image inputs "
              f"(checksum repair {'on' if repair else 'off'})"
              + (f": about {1 / share / 0.7:.0f} execs expected" if share else ""))
        times = []
        for seed in range(1, seeds_n + 1):
            found = find_planted(seed, cap_s, {} if repair else {"checksum_repair": 0})["seconds"]
            times.append(found)
            print(f"  seed {seed}: " + (f"found after {found:.0f} s" if found is not None
                                        else f"not found within {cap_s:.0f} s"))
        capped = [t if t is not None else float("inf") for t in times]
        median = statistics.median(capped)
        print(f"  median time to find over {seeds_n} seeds (repair {'on' if repair else 'off'}): "
              + (f"{median:.0f} s" if median != float("inf") else f"> {cap_s:.0f} s (cap)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--board", default="qemu-virt-0")
    parser.add_argument("--seconds", type=float, default=60.0, help="throughput run length")
    parser.add_argument("--baseline-inputs", type=int, default=4)
    parser.add_argument("--slots", default="1,4", help="inputs per restore, comma-separated (default 1,4)")
    parser.add_argument("--coverage", action="store_true", help="throughput with KCOV collection on")
    parser.add_argument("--targets", default=",".join(TARGETS), help="fuzz targets the inputs take turns among")
    parser.add_argument("--find-seeds", type=int, default=0, help="planted-bug campaigns to run (0: skip)")
    parser.add_argument("--find-cap-s", type=float, default=600.0)
    parser.add_argument("--no-repair", action="store_true", help="also time it without checksum repair")
    args = parser.parse_args()
    if args.seconds > 0:
        board = Board(find_board(args.board))
        ensure_flashed(board, print)
        base = restart_baseline(board, args.baseline_inputs) if args.baseline_inputs else None
        for slots in sorted({int(n) for n in args.slots.split(",")}):
            rate = throughput(board, args.seconds, slots, args.coverage, tuple(args.targets.split(",")))
            if base:
                print(f"  {rate / base:.1f}x the restart baseline")
    if args.find_seeds:
        ensure_flashed(Board(find_board("qemu-virt-planted")), print)
        planted(args.find_seeds, args.find_cap_s, args.no_repair)


if __name__ == "__main__":
    main()
