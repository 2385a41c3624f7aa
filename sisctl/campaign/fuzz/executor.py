"""Run fuzz inputs on a real kernel from the same ready snapshot.

The host writes each input, its image and after it its op lines, into the raw file behind a
spare virtio disk (one disk per slot), restores the snapshot in place (QMP, the running QEMU),
and has the agent mount each disk, run its ops and unmount (`sisagent fuzz`), one slot after the
other. The ops travel on the disk, not in the command: the console carries about 3 KB/s under
emulation, which made delivery the largest share of an exec. Several inputs share
one restore because QEMU drops all translated code on a restore and the first input pays for
retranslating the kernel. A kernel report or a silent guest ends the session; the inputs of that
batch are then run again one by one, each from the snapshot, so every crash belongs to exactly
one input.

With `coverage`, the agent traces each input's mount, ops and unmount with KCOV and writes the
distinct PCs after the file system on the slot's disk (coverage.py); the host reads them there,
which is faster than the console for tens of thousands of PCs.
"""
from __future__ import annotations

import re
import struct
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from sisctl.board.board import Board, BoardSession
from sisctl.board.errors import AgentError, BoardError, KernelCrash
from sisctl.board.qemu import Disk
from sisctl.campaign.core.phases import Phases
from sisctl.campaign.fuzz import coverage as kcov
from sisctl.campaign.fuzz.inputs import FuzzInput
from sisctl.campaign.fuzz.ops import encode
from sisctl.campaign.fuzz.seeds import Seed
from sisctl.campaign.fuzz.triage import Triaged, count_fs_errors, triage

DISK = "fuzz"                       # slot N is the virtio disk with serial fuzzN
DISK_BYTES = 4 << 20                 # the largest seed is 2 MiB
SNAPSHOT = "fuzz-ready"
MOUNT_OPTIONS = "errors=continue"    # an image that asks for errors=panic must not turn ext4's checks into crashes
OPS_OFFSET = 2 << 20                # the op lines: "SISOPS01", u32 length, text (firmware/agent/fuzzops.c)
OPS_HEADER = struct.Struct("<8sI")
OPS_MAGIC = b"SISOPS01"
OPS_BYTES = kcov.REGION_OFFSET - OPS_OFFSET
# Kernel messages below warning level (ext4's mount and unmount notices) stay off the console: each
# console line costs about 20 ms under emulation. Warnings, errors ("EXT4-fs error", counted) and
# every crash report still print; so does the input marker (written at the default level, 4).
CONSOLE_LOGLEVEL = 5
# Hangs become titled reports within seconds; soft lockups panic too.
# hangs become titled reports well inside an exec's timeout: hung tasks checked every 2 s and
# reported after 10 s, soft lockups after 10 s, RCU stalls after 15 s, each then panics
BOOT_APPEND = ("sysctl.kernel.hung_task_timeout_secs=10 sysctl.kernel.hung_task_check_interval_secs=2 "
               "hung_task_panic=1 softlockup_panic=1 watchdog_thresh=5 "
               "rcupdate.rcu_cpu_stall_timeout=15 sysctl.kernel.panic_on_rcu_stall=1")


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
    restore_s: float = 0.0                # the snapshot restore before its batch
    booted: bool = False                  # ran in a session that had just booted (no restore to time)
    after: bytes | None = None            # the file system part of the slot's disk as this input left it,
                                          # read at once: the slot's next input (a re-run) overwrites it
    kcov: int | None = None               # distinct PCs the agent traced, -errno without KCOV, None: not asked
    pcs: list[int] | None = None          # the kernel PCs this input reached (with coverage)
    kcov_truncated: bool = False          # the trace buffer overflowed: pcs is a subset
    phases: tuple[float, float, float] | None = None   # seconds in the guest: mount, ops, unmount

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


def parse_kcov(text: str) -> int | None:
    """The agent's "kcov N" line: distinct PCs written, or -errno; None without one."""
    found = re.search(r"^kcov (-?\d+)$", text, re.M)
    return int(found.group(1)) if found else None


def guest_command(slots: int, coverage: bool = False) -> str:
    """One agent process runs the inputs of `slots` disks in order; it marks where each input
    starts in its output ("== N") and in the kernel log."""
    env = f"SISCTL_KCOV_OFFSET={kcov.REGION_OFFSET} " if coverage else ""
    serials = ",".join(f"{DISK}{slot}" for slot in range(slots))
    return f"SISCTL_FUZZ_OPS={OPS_OFFSET} {env}sisagent fuzz {serials} /mnt {MOUNT_OPTIONS}"


def write_input(disk, image: bytes, ops: list[list], stale: int = 0) -> None:
    """Put an input on a slot's disk (`disk`: the open r+b raw file): its image, zeros over the
    `stale` bytes a larger image left after it, and its op lines at OPS_OFFSET."""
    if len(image) > OPS_OFFSET:
        raise ValueError(f"an image of {len(image)} bytes overlaps the ops at byte {OPS_OFFSET}")
    text = encode(ops).encode()
    if OPS_HEADER.size + len(text) > OPS_BYTES:
        raise ValueError(f"{len(text)} bytes of op lines do not fit in {OPS_BYTES}")
    disk.seek(0)
    disk.write(image)
    if stale > len(image):
        disk.write(bytes(stale - len(image)))
    disk.seek(OPS_OFFSET)
    disk.write(OPS_HEADER.pack(OPS_MAGIC, len(text)) + text)


def parse_phases(text: str) -> tuple[float, float, float] | None:
    """The agent's "t MOUNT_US OPS_US UMOUNT_US" line, in seconds."""
    found = re.search(r"^t (\d+) (\d+) (\d+)$", text, re.M)
    return tuple(int(v) / 1e6 for v in found.groups()) if found else None


def split_by_slot(text: str, marker: str, count: int) -> list[str]:
    """The text after each slot's marker line ("== N" in the output, "sisctl-fuzz: input N" in the log)."""
    parts, current = [""] * count, None
    for line in text.splitlines(keepends=True):
        found = re.search(marker, line)
        if found and int(found.group(1)) < count:
            current = int(found.group(1))
        elif current is not None:
            parts[current] += line
    return parts


class Executor:
    def __init__(self, board: Board, workdir: Path, exec_timeout_s: float = 20.0, cold: bool = False,
                 slots: int = 1, coverage: bool = False):
        """`slots`: inputs per restore. `cold`: every session boots the kernel from scratch (to confirm
        a reproducer without snapshots). `coverage`: collect each input's kernel PCs (KCOV)."""
        self.board, self.workdir, self.cold, self.coverage = board, workdir, cold, coverage
        self.exec_timeout_s = exec_timeout_s
        self.disks = [Disk(f"{DISK}{n}", workdir / f"disk{n}.img", flushes=False) for n in range(slots)]
        self.session: BoardSession | None = None
        self._stack: ExitStack | None = None
        self._written = [0] * slots
        self.sessions = 0
        self.phases = Phases()   # where an exec's time goes (figures['phases'])

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
        for disk in self.disks:   # QEMU sizes a disk once, at start
            with open(disk.image, "wb") as f:
                f.truncate(DISK_BYTES)
        self._written = [0] * len(self.disks)
        stack = ExitStack()
        try:
            self.session = stack.enter_context(self.phases.session(
                self.board.session(label="fuzz", append=BOOT_APPEND, disks=self.disks, fast=not self.cold)))
            with self.phases("fuzz snapshot saved", guest=True):
                self.session.run(f"echo {CONSOLE_LOGLEVEL} > /proc/sys/kernel/printk", timeout_s=30)
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

    def _write_disk(self, slot: int, image: Path, ops: list[list]) -> None:
        data = image.read_bytes()
        with open(self.disks[slot].image, "r+b") as f:
            write_input(f, data, ops, stale=self._written[slot])
            if self.coverage:
                kcov.clear_region(f)
        self._written[slot] = len(data)

    def run(self, image: Path, ops: list[list]) -> ExecResult:
        """Run one input from the snapshot."""
        return self._run_slots([(image, ops)])[0]

    def run_inputs(self, inputs: list[FuzzInput], seeds: dict[str, Seed],
                   work: Path) -> Iterator[tuple[FuzzInput, Path, ExecResult]]:
        """Each input built into an image under `work` and run, as many per restore as there are slots."""
        for start in range(0, len(inputs), len(self.disks)):
            chunk = inputs[start:start + len(self.disks)]
            images = [work / f"input{slot}.img" for slot in range(len(chunk))]
            for fuzz_input, image in zip(chunk, images):
                with self.phases("image build (mutation, debugfs)"):
                    fuzz_input.build_image(seeds, image)
            yield from zip(chunk, images, self.run_batch([(i, f.ops) for f, i in zip(chunk, images)]))

    def run_batch(self, items: list[tuple[Path, list[list]]]) -> list[ExecResult]:
        """Run up to `slots` inputs after one restore; after a crash or hang, each again on its own."""
        results = self._run_slots(items)
        if any(r.crashed for r in results) and len(items) > 1:
            return [self._run_slots([item])[0] for item in items]
        return results

    def _run_slots(self, items: list[tuple[Path, list[list]]]) -> list[ExecResult]:
        """One restore, the inputs in slot order; a crash or hang closes the session."""
        started = time.monotonic()
        fresh = self.session is None
        if fresh:
            self._open()
        with self.phases("disk write"):
            for slot, (image, ops) in enumerate(items):
                self._write_disk(slot, image, ops)
        if not fresh:
            with self.phases("snapshot restore", guest=True):
                self._restore()
        restore_s = time.monotonic() - started
        log = self.session.run_dir / "console.log"
        offset = log.stat().st_size if log.exists() else 0
        outputs, hang = [""] * len(items), ""
        try:
            with self.phases("guest run", guest=True) as ran:
                done = self.session.run(guest_command(len(items), self.coverage),
                                        timeout_s=self.exec_timeout_s * len(items))
            outputs = split_by_slot(done.text, r"^== (\d+)$", len(items))
            if done.reason == "timeout":
                hang = f"the ops did not finish within {self.exec_timeout_s * len(items):g} s"
        except KernelCrash:
            pass   # the console log holds the whole report; triaged below
        except AgentError as err:
            hang = err.message
        except BoardError as err:   # the machine went away without a report
            hang = f"lost the guest: {err.message}"
        with self.phases("results and triage"):
            results, text = self._results(items, log, offset, outputs, hang, fresh, restore_s)
        in_guest = sum(sum(r.phases) for r in results if r.phases)
        self.phases.add("command, output and console", max(0.0, ran.wall_s - in_guest), within="guest run")
        if any(r.crashed for r in results) or triage(text):
            self.close()
        seconds = (time.monotonic() - started) / len(items)
        for result in results:
            result.seconds = seconds
        return results

    def _results(self, items, log: Path, offset: int, outputs: list[str], hang: str, fresh: bool,
                 restore_s: float) -> tuple[list[ExecResult], str]:
        """Each slot's result from the agent's output and the console log since `offset`."""
        text = read_from(log, offset)
        logs = split_by_slot(text, r"sisctl-fuzz: input (\d+)", len(items))
        started_slots = [int(n) for n in re.findall(r"sisctl-fuzz: input (\d+)", text)] or [0]
        results = []
        for slot, (_, ops) in enumerate(items):
            result = ExecResult(restore_s=0.0 if fresh else restore_s, booted=fresh,
                                log=logs[slot] if len(items) > 1 else text)
            result.mount, result.errnos, result.umount = parse_output(outputs[slot], len(ops))
            if result.umount == 0:   # cleanly unmounted: what the e2fsck oracle checks
                with open(self.disks[slot].image, "rb") as disk:
                    result.after = disk.read(self._written[slot])
            result.fs_errors = count_fs_errors(result.log)
            result.phases = parse_phases(outputs[slot])
            for step, seconds in zip(("mount (guest)", "ops (guest)", "unmount (guest)"), result.phases or ()):
                self.phases.add(step, seconds, within="guest run")
            if self.coverage:
                self._read_coverage(result, outputs[slot], self.disks[slot].image)
            found = triage(result.log)
            if found and found.is_bug:
                result.crash = found
            if hang and slot == started_slots[-1]:   # the input that was running
                result.hang = hang
            results.append(result)
        return results, text

    def _read_coverage(self, result: ExecResult, output: str, disk: Path) -> None:
        result.kcov = parse_kcov(output)
        if result.kcov is not None and result.kcov >= 0:
            found = kcov.read_region(disk)
            if found:
                result.pcs, result.kcov_truncated = found


def read_from(path: Path, offset: int) -> str:
    """A console log from `offset` on, as text."""
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", errors="replace")
