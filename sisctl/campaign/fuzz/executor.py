"""Run one fuzz input at a time on a real kernel, each from the same ready snapshot.

The host writes the input image into the raw file behind a spare virtio disk, restores the
snapshot in place (QMP, the running QEMU), and has the agent mount it, run the ops and unmount
(`sisagent fuzz`). A kernel report or a silent guest ends the session; the next input starts a
new one, so every crash belongs to exactly one input.
"""
from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sisctl.board.board import Board, BoardSession
from sisctl.board.errors import AgentError, BoardError, KernelCrash
from sisctl.board.qemu import Disk
from sisctl.campaign.fuzz.ops import encode
from sisctl.campaign.fuzz.triage import Triaged, count_fs_errors, triage

DISK = "fuzz"
DISK_BYTES = 4 << 20                 # the largest seed is 2 MiB
SNAPSHOT = "fuzz-ready"
MOUNT_OPTIONS = "errors=continue"    # an image that asks for errors=panic must not turn ext4's checks into crashes
OPS_END = "SISCTL_FUZZ_END"
# Hangs become titled reports within seconds; soft lockups panic too.
BOOT_APPEND = ("sysctl.kernel.hung_task_timeout_secs=10 hung_task_panic=1 softlockup_panic=1 "
               "watchdog_thresh=5")


@dataclass
class ExecResult:
    mount: int | None = None              # errno of the mount, 0 = mounted, None = no answer
    errnos: list[int | None] = field(default_factory=list)
    umount: int | None = None             # None: not mounted at the end (or no answer)
    crash: Triaged | None = None
    hang: str = ""                        # why the guest is considered hung
    log: str = ""                         # console output during this input
    fs_errors: int = 0
    seconds: float = 0.0
    restore_s: float = 0.0

    @property
    def crashed(self) -> bool:
        return self.crash is not None or bool(self.hang)


def parse_output(text: str, count: int) -> tuple[int | None, list[int | None], int | None]:
    mount, umount, errnos = None, None, [None] * count
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "mount" and parts[1].isdigit():
            mount = int(parts[1])
        elif len(parts) == 2 and parts[0] == "umount":
            umount = int(parts[1]) if parts[1].isdigit() else None
        elif len(parts) == 3 and parts[0] == "o" and parts[1].isdigit() and int(parts[1]) < count:
            errnos[int(parts[1])] = int(parts[2])
    return mount, errnos, umount


def guest_command(ops: list[list], timeout_s: float) -> str:
    text = encode(ops)
    if OPS_END in text:
        raise ValueError("ops text contains the here-document terminator")
    return (f"exec /sbin/sisagent fuzz {DISK} /mnt/{DISK} {MOUNT_OPTIONS} <<'{OPS_END}'\n{text}{OPS_END}\n")


class Executor:
    def __init__(self, board: Board, workdir: Path, progress: Callable[[str], None] = lambda _: None,
                 exec_timeout_s: float = 20.0, cold: bool = False):
        """`cold`: every session boots the kernel from scratch (to confirm a reproducer without snapshots)."""
        self.board, self.workdir, self.progress, self.cold = board, workdir, progress, cold
        self.exec_timeout_s = exec_timeout_s
        self.disk = Disk(DISK, workdir / "disk.img")
        self.session: BoardSession | None = None
        self._stack: ExitStack | None = None
        self._written = 0
        self.sessions = 0

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._stack:
            stack, self._stack, self.session = self._stack, None, None
            stack.close()

    def _open(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.disk.image, "wb") as f:   # QEMU sizes the disk once, at start
            f.truncate(DISK_BYTES)
        self._written = 0
        stack = ExitStack()
        try:
            self.session = stack.enter_context(
                self.board.session(label="fuzz", append=BOOT_APPEND, disks=[self.disk], fast=not self.cold))
            self.session.machine.save_snapshot(SNAPSHOT)
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        self.sessions += 1

    def _restore(self) -> None:
        machine = self.session.machine
        machine.qmp("stop")
        machine.load_snapshot(SNAPSHOT)
        machine.qmp("cont")

    def _write_disk(self, image: Path) -> None:
        data = image.read_bytes()[:DISK_BYTES]
        with open(self.disk.image, "r+b") as f:
            f.write(data)
            if self._written > len(data):   # what the previous, larger image left behind
                f.write(bytes(self._written - len(data)))
        self._written = len(data)

    def run(self, image: Path, ops: list[list]) -> ExecResult:
        """Run one input; a crash or hang closes the session (the next run opens a fresh one)."""
        started = time.monotonic()
        fresh = self.session is None
        if fresh:
            self._open()
        self._write_disk(image)
        if not fresh:
            self._restore()
        result = ExecResult(restore_s=time.monotonic() - started)
        log = self.session.run_dir / "console.log"
        offset = log.stat().st_size if log.exists() else 0
        try:
            done = self.session.run(guest_command(ops, self.exec_timeout_s), timeout_s=self.exec_timeout_s)
            result.mount, result.errnos, result.umount = parse_output(done.text, len(ops))
            if done.reason == "timeout":
                result.hang = f"the ops did not finish within {self.exec_timeout_s:g} s"
        except KernelCrash:
            pass   # the console log holds the whole report; triaged below
        except AgentError as err:
            result.hang = err.message
        except BoardError as err:   # the machine went away without a report
            result.hang = f"lost the guest: {err.message}"
        result.log = _read_from(log, offset)
        result.fs_errors = count_fs_errors(result.log)
        found = triage(result.log)
        if found and found.is_bug:
            result.crash = found
        if result.crashed or found:
            self.close()
        result.seconds = time.monotonic() - started
        return result


def _read_from(path: Path, offset: int) -> str:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", errors="replace")
