"""Crash modes whose states are recovered and checked on the board itself (power-cut, log-writes):
the scratch device the board file names (a QEMU board without storage: gets spare disks of sisctl's),
proven before anything is written; the starting image kept as a pristine copy behind the crash disk
on the same device; and the check of a crashed file system on the board: mount (the kernel under
test recovers it), dump, sanity, a static e2fsck -fn and the persistence marks, judged on the host.

The scratch device holds [0, DISK_BYTES) the crash disk (file system, then marks) and
[DISK_BYTES, 2 * DISK_BYTES) the pristine copy. Only commands and their output cross the console,
and, once per campaign where the device does not hold this campaign's starting image, the image
(gzip, about 40 KB).
"""
from __future__ import annotations

import gzip
import hashlib
import shlex
from functools import cached_property

from sisctl import paths
from sisctl.board.board import BoardSession
from sisctl.board.errors import BoardError
from sisctl.board.qemu import Disk
from sisctl.board.storage import DeviceRef, StorageSpec, prove
from sisctl.campaign.ext4crash.campaign import WORK, Ext4CrashCampaign, PendingState
from sisctl.campaign.ext4crash.disk import DISK_BYTES, FS_BYTES, Mark
from sisctl.campaign.ext4crash.guestfs import check_script, parse_check_output
from sisctl.image.ext4 import FsckResult

MIB = 1 << 20
FSCK_MARK = "== sisctl-fsck"
SPARE_LOG_BYTES = 64 * MIB


class OnBoardCampaign(Ext4CrashCampaign):
    """One board's share of a campaign whose crash states live on the board's scratch device."""
    ROLES: dict[str, int] = {"scratch": 2 * DISK_BYTES}    # the devices a mode needs, and their least size

    def __init__(self, ctx, config, **options):
        super().__init__(ctx, config, **options)
        self.spare = ctx.board.spec.storage is None     # a QEMU board: sisctl's own spare disks
        self.storage = ctx.board.spec.storage or StorageSpec(scratch=DeviceRef(serial=WORK),
                                                             log=DeviceRef(serial="log"))
        self.seeded = False                             # the pristine copy proven in this process

    @cached_property
    def base_sha256(self) -> str:
        return hashlib.sha256(self.base.read_bytes()).hexdigest()

    def _session(self, label: str, logged: bool = False):
        disks = []
        if self.spare:
            scratch = self.work / "scratch.img"
            if not scratch.exists() or scratch.stat().st_size != 2 * DISK_BYTES:   # made whole or made again
                with paths.written_into_place(scratch) as partial:
                    partial.write_bytes(self.base.read_bytes() * 2)
            disks = [Disk(WORK, scratch)]
            if "log" in self.ROLES:
                log = self.work / "log.img"
                with open(log, "ab") as f:
                    f.truncate(SPARE_LOG_BYTES)
                disks.append(Disk("log", log))
        return self.phases.session(self.board.session(label=label, disks=disks, fast=not self.cold_sessions))

    def _devices(self, session: BoardSession) -> dict[str, str]:
        """The devices of ROLES, proven before anything is written; the pristine copy made once."""
        with self.phases("scratch proven"):
            devices = prove(session, self.storage, self.ROLES)
        if not self.seeded:
            with self.phases("starting image sent"):
                self._seed(session, devices["scratch"])
            self.seeded = True
        return devices

    def _device(self, session: BoardSession) -> str:
        return self._devices(session)["scratch"]

    def _pristine_sha256(self, session: BoardSession, device: str) -> str:
        result = self._on_board(session, f"dd if={shlex.quote(device)} bs=1M skip={DISK_BYTES // MIB} "
                                         f"count={DISK_BYTES // MIB} 2>/dev/null | sha256sum", "reading the pristine copy")
        return result.split()[0] if result.split() else ""

    def _seed(self, session: BoardSession, device: str) -> None:
        if self._pristine_sha256(session, device) == self.base_sha256:
            return
        link = session.link
        self.progress(f"{self.board.name}: writing the starting image behind the crash disk on {device} "
                      f"(sent over the {link.name})")
        link.put(gzip.compress(self.base.read_bytes(), 9), "/tmp/base.gz")
        self._on_board(session, f"gunzip -c /tmp/base.gz | dd of={shlex.quote(device)} bs=1M "
                                f"seek={DISK_BYTES // MIB} conv=fsync 2>&1 && rm /tmp/base.gz",
                       "writing the starting image")
        if self._pristine_sha256(session, device) != self.base_sha256:
            raise BoardError(self.board.name, f"the starting image written to {device} does not read back "
                             "the same: the device loses writes")

    def _restore(self, session: BoardSession, device: str) -> None:
        """The crash disk becomes the starting image again (file system and an empty mark area):
        the blocks that differ from the pristine copy are copied back."""
        with self.phases("starting image restored"):
            self._on_board(session, f"sisagent restore {shlex.quote(device)} {DISK_BYTES}",
                           "restoring the starting image")

    def _on_board(self, session: BoardSession, command: str, what: str) -> str:
        result = session.run(command, timeout_s=300)
        if not result.ok:
            raise BoardError(self.board.name, f"{what} failed: {(result.text + result.stderr.decode(errors='replace')).strip()[-300:]}")
        return result.text

    def _check_on_board(self, session: BoardSession, device: str, state: PendingState, extra: dict) -> None:
        """Recover, dump and check the crashed file system on `device` and record the state."""
        output, console, wall_s = self._guest_check(session, recovery_script(device), 600)
        report_text, _, rest = output.partition(f"\n{FSCK_MARK}\n")
        report = parse_check_output(report_text, ["scratch"])["scratch"]
        try:
            fsck, marks = parse_fsck_and_marks(rest)
        except ValueError as err:
            raise BoardError(self.board.name, f"checking {state.key} on {device}: {err}", output[-2000:]) from None
        self._guest_steps([report], wall_s)
        self._record(state, marks, report, fsck, {**console, "device": device}, extra)


def recovery_script(device: str) -> str:
    """Mount (recover), dump and exercise the crashed file system, then e2fsck -fn and the marks."""
    quoted = shlex.quote(device)
    return (check_script([f"scratch={device}"]) + f"echo '{FSCK_MARK}'\n"
            f"e2fsck -fn {quoted} 2>&1; echo \"fsck_exit $?\"\nsisagent marks {quoted} {FS_BYTES}\n")


def parse_fsck_and_marks(text: str) -> tuple[FsckResult, list[Mark]]:
    """e2fsck's output and code, and the marks, from what follows the check's report; ValueError
    when either is missing (the output was cut short: nothing may be judged from it)."""
    lines = text.splitlines()
    ended = next((i for i, line in enumerate(lines) if line.startswith("fsck_exit ")), None)
    if ended is None or not lines[ended][10:].strip().isdigit():
        raise ValueError("no e2fsck result in the board's output")
    fsck = FsckResult(int(lines[ended][10:]), "\n".join(lines[:ended]).strip())
    marks = [Mark(int(words[1]), int(words[2])) for words in (line.split() for line in lines[ended + 1:])
             if len(words) == 3 and words[0] == "mark" and words[1].isdigit() and words[2].isdigit()]
    counted = [line.split()[1] for line in lines[ended + 1:] if line.startswith("marks ")]
    if not counted or counted[-1] != str(len(marks)):
        raise ValueError(f"the marks read on the board are not whole ({len(marks)} read, the board counted "
                         f"{counted[-1] if counted else 'none'})")
    return fsck, marks
