"""Benchmark: verified ext4 crash states per minute and CPU seconds per state of each crash mode, on
a QEMU board and on the U-Boot real-board stand-in, against the powerloss mode measured in the
same run (QEMU only: it needs QEMU's write log).

On QEMU: powerloss (host-side states on spare disks), power-cut (a killed QEMU and a boot per
state), log-writes (the kernel's write log, replayed and checked on the board). On the stand-in
(QEMU running U-Boot, started and killed by an HTTP PDU, console through ser2net over RFC 2217, an
SD card of its own): power-cut (each cut a real kill of the emulator and a U-Boot boot with TFTP)
and log-writes. CPU seconds count this process and its children (QEMU, e2fsck, ser2net).

    python benchmarks/crash_modes.py [--scenario S] [--runs N] [--no-standin]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sisctl.campaign.core.runner import start  # noqa: E402


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measured(board: str, mode: str, scenario: str, runs: int, seed: int) -> dict:
    cpu, started = cpu_seconds(), time.monotonic()
    summary = start("ext4-crash", board, {"scenario": scenario, "mode": mode, "runs": runs}, seed,
                    progress=lambda _: None)
    wall, cpu = time.monotonic() - started, cpu_seconds() - cpu
    states = summary.get("states") or 0
    if summary["status"] not in ("passed", "failed") or not states:
        raise SystemExit(f"{mode} on {board}: {summary['status']}: {summary.get('reason')}")
    return {"mode": mode, "states": states, "failed": summary["failed"], "seconds": round(wall, 1),
            "states_per_minute": round(states / wall * 60, 1), "cpu_s_per_state": round(cpu / states, 2)}


class Env:
    """monkeypatch's setenv, for the stand-in outside pytest."""
    def setenv(self, name: str, value: str) -> None:
        os.environ[name] = value


def standin(tmp: Path):
    """The U-Boot stand-in with an SD card (boot, scratch and log partitions), its TFTP files copied."""
    from tests.integration.standins import sd_card, uboot_lab_board
    tmp.mkdir(parents=True)
    plug = sd_card(tmp / "sdcard.img", [("bootfs", 16), ("sis-scratch", 96), ("sis-log", 32)])
    storage = {"scratch": {"label": "sis-scratch"}, "log": {"label": "sis-log"}, "boot": {"label": "bootfs"}}
    return uboot_lab_board(tmp, None, Env(), plug, {"storage": storage})


def shown(row: dict, baseline: float | None) -> dict:
    ratio = f"{row['states_per_minute'] / baseline:11.2f}x" if baseline else f"{'1.00x':>12s}"
    print(f"{row['board']:16s} {row['mode']:11s} {row['states']:6d} {row['states_per_minute']:10.1f} {ratio} "
          f"{row['cpu_s_per_state']:11.2f}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--board", default="qemu-virt-0")
    parser.add_argument("--scenario", default="write_during_data_write")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-standin", action="store_true", help="QEMU only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sisctl-crash-modes-") as tmp:
        tmp = Path(tmp)
        os.environ["SISCTL_STATE"], os.environ["SISCTL_REPORTS"] = str(tmp / "state"), str(tmp / "reports")
        os.environ["SISCTL_COORDINATOR"] = ""
        print(f"{'board':16s} {'mode':11s} {'states':>6s} {'states/min':>10s} {'vs powerloss':>12s} {'CPU s/state':>11s}")
        rows: list[dict] = []
        for mode in ("powerloss", "power-cut", "log-writes"):     # powerloss first: the baseline
            baseline = rows[0]["states_per_minute"] if rows else None
            rows.append(shown({"board": args.board, **measured(args.board, mode, args.scenario, args.runs, args.seed)},
                              baseline))
        baseline = rows[0]["states_per_minute"]
        if not args.no_standin:
            with standin(tmp / "standin") as (board, _, _):
                for mode in ("power-cut", "log-writes"):
                    rows.append(shown({"board": "uboot stand-in", **measured(board.spec.source, mode, args.scenario,
                                                                            args.runs, args.seed)}, baseline))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
