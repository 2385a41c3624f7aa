"""Benchmark: what coverage feedback and checksum repair each contribute to finding the planted bug.

Conditions, each a fuzz campaign (target ext4-image) on qemu-virt-planted (the kbuild kernel with
KCOV and the planted WARN_ON in ext4_setattr), seeds 1..--seeds, stopping at the bug or after
--cap-s seconds of fuzzing:
  default          KCOV feedback, checksums repaired for 80 % of inputs
  no-coverage      --coverage off (the corpus keeps new outcome signatures)
  no-repair        --checksum-repair 0 (every mutated image keeps stale checksums)
Prints per run and per condition the execs and seconds to find the bug (median over seeds; a run
that hit the cap counts as above every found one). Execs to find does not depend on the machine's
load; seconds do. --vms 2 runs two campaigns at once, each on its own temporary copy of the
qemu-virt-planted board (its own state folder and VM); the conditions are interleaved so a change
of load hits them alike.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz import find_planted  # noqa: E402

from sisctl import paths  # noqa: E402

CONDITIONS = {
    "default": {},
    "no-coverage": {"coverage": "off"},
    "no-repair": {"checksum_repair": 0},
}


def median_capped(values: list[float | None]) -> float | None:
    """Median where None (not found within the cap) ranks above every number; None if that is the median."""
    ranked = sorted(values, key=lambda v: (v is None, v or 0))
    middle = ranked[(len(ranked) - 1) // 2: len(ranked) // 2 + 1]
    if any(v is None for v in middle):
        return None
    return statistics.mean(middle)


def board_copies(count: int, folder: Path) -> list[str]:
    """Paths of `count` board files like qemu-virt-planted under other names (one VM and state each)."""
    spec = yaml.safe_load((paths.boards_dir() / "qemu-virt-planted.yaml").read_text())
    made = []
    for n in range(count):
        path = folder / f"qemu-virt-planted-ablation-{n}.yaml"
        path.write_text(yaml.safe_dump({**spec, "name": path.stem}))
        made.append(str(path))
    return made


def run_share(board: str, jobs: list[tuple[str, int, float]]) -> list[dict]:
    """One worker's runs, one after the other on its own board; each printed when it ends."""
    runs = []
    for condition, seed, cap_s in jobs:
        try:
            found = find_planted(seed, cap_s, CONDITIONS[condition], board)
        except RuntimeError as err:   # the board failed: once more, then the run is left out
            print(f"{condition:12s} seed {seed}: {err}; running it again", flush=True)
            found = find_planted(seed, cap_s, CONDITIONS[condition], board)
        run = {"condition": condition, "seed": seed, **found}
        print(f"{condition:12s} seed {seed}: "
              + (f"found after {run['execs']} execs, {run['seconds']:.0f} s" if run["execs"] else
                 f"not found in {run['total_execs']} execs ({cap_s:.0f} s)")
              + (f"; coverage {run['coverage']} PCs" if run.get("coverage") else "")
              + f"  [{run['campaign']}]", flush=True)
        runs.append(run)
    return runs


def show(value: float | None, unit: str, cap: str) -> str:
    return f"{value:.0f} {unit}" if value is not None else f"> {cap}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="campaign seeds per condition (at least 5)")
    parser.add_argument("--cap-s", type=float, default=600.0, help="fuzzing seconds per run before giving up")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated subset")
    parser.add_argument("--vms", type=int, default=1, help="campaigns at once, each on its own VM")
    parser.add_argument("--json", default="", help="also write the runs to this file")
    args = parser.parse_args()
    conditions = [c for c in args.conditions.split(",") if c]
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown or args.seeds < 1:
        parser.error(f"unknown condition {unknown[0]!r}" if unknown else "--seeds must be at least 1")
    runs: dict[str, list[dict]] = {c: [] for c in conditions}
    jobs = [(c, seed, args.cap_s) for seed in range(1, args.seeds + 1) for c in conditions]
    with tempfile.TemporaryDirectory(prefix="fuzz-ablation-") as folder:
        boards = board_copies(args.vms, Path(folder))
        try:
            with ProcessPoolExecutor(args.vms) as pool:
                shares = [pool.submit(run_share, board, jobs[k::args.vms]) for k, board in enumerate(boards)]
                for run in (run for share in shares for run in share.result()):
                    runs[run["condition"]].append(run)
        finally:   # the copies' state folders (flash record, snapshot) go with them
            for board in boards:
                shutil.rmtree(paths.state_dir() / "boards" / Path(board).stem, ignore_errors=True)
    print(f"\nplanted bug, median over {args.seeds} seeds (cap {args.cap_s:.0f} s of fuzzing per run)")
    print(f"{'condition':12s} {'found':>6s} {'execs to find':>14s} {'time to find':>13s}")
    for condition, done in runs.items():
        found = sum(1 for r in done if r["execs"])
        print(f"{condition:12s} {found:>3d}/{len(done):<2d} "
              f"{show(median_capped([r['execs'] for r in done]), 'execs', 'cap'):>14s} "
              f"{show(median_capped([r['seconds'] for r in done]), 's', f'{args.cap_s:.0f} s'):>13s}")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1) + "\n")


if __name__ == "__main__":
    main()
