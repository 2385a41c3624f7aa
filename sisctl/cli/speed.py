"""`invoke speed.*`: how fast sisctl itself is; each runs a script of benchmarks/ that prints its
figures as ratios against a baseline measured in the same run. (Benchmark campaigns of a kernel are
`invoke campaign --kind bench`, and their tools `invoke bench.*`.)"""
from __future__ import annotations

import subprocess
import sys

from invoke import Collection, Exit, task

from sisctl.cli.common import guard
from sisctl.paths import PROJECT


def _script(name: str, *args: str) -> None:
    """Run benchmarks/NAME; a failing script ends the task with its exit code (it said why)."""
    code = subprocess.run([sys.executable, str(PROJECT / "benchmarks" / name), *args]).returncode
    if code:
        raise Exit(code=code)


@task(name="boot", help={"board": "board name or path", "runs": "boots of each kind"})
@guard
def speed_boot(c, board="qemu-virt-0", runs=3):
    """Benchmark: cold boot-to-ready vs snapshot-restore-to-ready, and their ratio."""
    _script("boot.py", "--board", board, "--runs", str(runs))


@task(name="crash", help={"board": "board name or path", "runs": "workload runs per scenario"})
@guard
def speed_crash(c, board="qemu-virt-0", runs=2):
    """Benchmark: verified ext4 crash states per minute, fast path vs a cold boot per state, and the ratio."""
    _script("crash.py", "--board", board, "--runs", str(runs))


@task(name="crash-modes", help={"board": "a QEMU board name or path", "runs": "workload runs per mode",
                                "standin": "also on the U-Boot real-board stand-in (default yes)"})
@guard
def speed_crash_modes(c, board="qemu-virt-0", runs=3, standin=True):
    """Benchmark: states per minute and CPU seconds per state of each crash mode, on QEMU and the stand-in."""
    _script("crash_modes.py", "--board", board, "--runs", str(runs), *(() if standin else ("--no-standin",)))


@task(name="data-link", help={"mib": "MiB over the network", "console_kib": "KiB over the console"})
@guard
def speed_data_link(c, mib=1, console_kib=256):
    """Benchmark: a file both ways over the console and over the network data link, and the speed-up."""
    _script("data_link.py", "--mib", str(mib), "--console-kib", str(console_kib))


@task(name="cpu", help={"board": "a QEMU board name or path", "runs": "boots of each CPU option"})
@guard
def speed_cpu(c, board="qemu-virt-0", runs=3):
    """Benchmark: cold boot and a syscall loop under each -cpu option against max; instruction counts unchanged."""
    _script("cpu.py", "--board", board, "--runs", str(runs))


@task(name="telemetry", help={"board": "board name or path"})
@guard
def speed_telemetry(c, board="qemu-virt-0"):
    """Benchmark: points/s into the local database, and the overhead of periodic PMU sampling."""
    _script("telemetry.py", "--board", board)


speed = Collection("speed")
for speed_task in (speed_boot, speed_crash, speed_crash_modes, speed_data_link, speed_cpu, speed_telemetry):
    speed.add_task(speed_task)
