"""Benchmark: verified ext4 crash states per minute, fast path against the naive method, in one run.

Fast path: one snapshot-restored session per workload run; its crash states are rebuilt from the
write log and recovered by the kernel under test on spare disks of the same running VM, eight per
agent round trip. Naive: a cold boot of the same kernel for every crash state. Both record every
state with e2fsck and the oracle. Besides the rates it prints CPU seconds per verified state (this
process, QEMU and e2fsck: what does not depend on the host's load) and the fast path's phases, wall
and CPU per state. `invoke speed.crash` runs it.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sisctl.board.board import Board  # noqa: E402
from sisctl.board.spec import find_board  # noqa: E402
from sisctl.build.builder import build  # noqa: E402
from sisctl.build.recipe import find_recipe  # noqa: E402
from sisctl.campaign.ext4crash.campaign import Ext4CrashCampaign  # noqa: E402
from sisctl.campaign.ext4crash.options import CampaignConfig  # noqa: E402
from sisctl.campaign.core.phases import table  # noqa: E402
from sisctl.campaign.core.records import read_records  # noqa: E402


def cpu_seconds() -> float:
    """User + system CPU of this process and its reaped children (QEMU, e2fsck)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_campaign(board: Board, cfg: CampaignConfig, out: Path, cold: bool = False,
                   pending=None, base: Path | None = None) -> dict:
    """The campaign's states checked, wall and CPU seconds, and its phases."""
    with Ext4CrashCampaign.direct(board, cfg, out, cold_sessions=cold, base=base) as campaign:
        started, cpu_before = time.monotonic(), cpu_seconds()
        if pending is None:
            campaign.run()
        else:
            campaign.pending = pending
            campaign.run_checks_only()
    wall, cpu = time.monotonic() - started, cpu_seconds() - cpu_before
    states = campaign.checked
    return {"states": states, "seconds": round(wall, 1), "states_per_minute": round(states / wall * 60, 1),
            "cpu_s_per_state": round(cpu / states, 3) if states else None, "phases": campaign.phases.as_dict()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--board", default="qemu-virt-0")
    parser.add_argument("--scenarios", default="generated-2,write_during_data_write")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--naive-states", type=int, default=4)
    args = parser.parse_args()
    spec = find_board(args.board)
    board = Board(spec)
    board.flash(build(find_recipe(spec.recipe), progress=lambda _: None), progress=lambda _: None)
    cfg = CampaignConfig(spec.name, args.scenarios.split(","), "powerloss", args.runs, seed=7, keep_all=True)
    with tempfile.TemporaryDirectory(prefix="sisctl-bench-") as tmp:
        tmp = Path(tmp)
        timed_campaign(board, CampaignConfig(spec.name, ["generated-1"], "powerloss", 1, seed=1),
                       tmp / "warmup")   # creates the ready snapshot for this disk set
        fast = timed_campaign(board, cfg, tmp / "fast")
        records = [r for r in read_records(tmp / "fast" / "records.jsonl") if r.get("type") == "state"]
        fast["not_ok"] = sum(r["outcome"] != "ok" for r in records)
        sample = random.Random(1).sample(records, min(args.naive_states, len(records)))
        with Ext4CrashCampaign.direct(board, cfg, tmp / "fast") as probe:
            pending = [p for r in sample for p in probe._powerloss_states(
                r["scenario"], r["run"], tmp / "fast" / "runs" / f"{r['scenario']}-{r['run']}.log", r["run_seed"])
                if p.key == r["state_key"]]
        naive = timed_campaign(board, cfg, tmp / "naive", cold=True, pending=pending,
                               base=tmp / "fast" / "base.img")
    fast_rate, naive_rate = fast["states_per_minute"], naive["states_per_minute"]
    phases = fast.pop("phases")
    naive.pop("phases")
    print(json.dumps({"fast": fast, "naive": naive, "ratio": round(fast_rate / naive_rate, 1),
                      "load_1min": round(os.getloadavg()[0], 2)}, indent=1))
    print(f"fast path, per verified state ({fast['states']}):\n{table(phases, fast['states'], 'state')}")
    print(f"verified crash states per minute: fast {fast_rate:.0f}, naive (cold boot per state) "
          f"{naive_rate:.1f}, ratio {fast_rate / naive_rate:.1f}x; CPU seconds per state: fast "
          f"{fast['cpu_s_per_state']}, naive {naive['cpu_s_per_state']}")


if __name__ == "__main__":
    main()
