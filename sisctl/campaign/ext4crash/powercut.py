"""The power-cut mode of the ext4-crash campaign: the plug pulled for real, on any board.

Each run: a session boots, proves the scratch device (sisctl.board.storage), restores the starting
image onto it from the pristine copy kept behind it on the same device, starts the workload and
cuts the power at a seeded moment inside it (a real board through its power switch, a QEMU board by
killing QEMU). A second session boots the kernel again, which recovers the file system when it
mounts it; the agent dumps the tree, runs e2fsck -fn and reads the persistence marks, all on the
board, and the host judges what it printed with the durability oracle.

The scratch device holds [0, DISK_BYTES) the crash disk (file system, then marks) and
[DISK_BYTES, 2 * DISK_BYTES) the pristine copy. Only commands and their output cross the console,
and, once per campaign where the device does not hold this campaign's starting image, the image
(gzip, about 40 KB). A QEMU board without storage: in its file gets a spare disk as its scratch.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import random
import shlex
import time
from functools import cached_property

from sisctl import paths
from sisctl.board.board import BoardSession
from sisctl.board.errors import BoardError
from sisctl.board.qemu import Disk
from sisctl.board.storage import DeviceRef, StorageSpec, prove
from sisctl.campaign.ext4crash.campaign import WORK, Ext4CrashCampaign, PendingState
from sisctl.campaign.ext4crash.disk import DISK_BYTES, FS_BYTES, Mark
from sisctl.campaign.ext4crash.guestfs import check_script, parse_check_output, workload_script
from sisctl.campaign.ext4crash.ops import format_ops
from sisctl.image.ext4 import FsckResult

MIB = 1 << 20
CHUNK = 40_000            # base64 characters per command while the starting image travels
FSCK_MARK = "== sisctl-fsck"


class PowerCutCampaign(Ext4CrashCampaign):
    """One board's share of a power-cut campaign; records, resume and summaries as the other modes."""

    def __init__(self, ctx, config, **options):
        super().__init__(ctx, config, **options)
        self.spare = ctx.board.spec.storage is None     # a QEMU board: sisctl's own spare disk
        self.storage = ctx.board.spec.storage or StorageSpec(scratch=DeviceRef(serial=WORK))
        self.seeded = False                             # the pristine copy proven in this process

    # --- the scratch device -----------------------------------------------------------------
    @cached_property
    def base_sha256(self) -> str:
        return hashlib.sha256(self.base.read_bytes()).hexdigest()

    def _session(self, label: str, logged: bool = False):
        disks = []
        if self.spare:
            image = self.work / "scratch.img"
            if not image.exists() or image.stat().st_size != 2 * DISK_BYTES:   # made whole or made again
                with paths.written_into_place(image) as partial:
                    partial.write_bytes(self.base.read_bytes() * 2)
            disks = [Disk(WORK, image)]
        return self.phases.session(self.board.session(label=label, disks=disks, fast=not self.cold_sessions))

    def _device(self, session: BoardSession) -> str:
        """The scratch device, proven before anything is written; the pristine copy made once."""
        with self.phases("scratch proven"):
            device = prove(session, self.storage, {"scratch": 2 * DISK_BYTES})["scratch"]
        if not self.seeded:
            with self.phases("starting image sent"):
                self._seed(session, device)
            self.seeded = True
        return device

    def _pristine_sha256(self, session: BoardSession, device: str) -> str:
        result = self._on_board(session, f"dd if={shlex.quote(device)} bs=1M skip={DISK_BYTES // MIB} "
                                         f"count={DISK_BYTES // MIB} 2>/dev/null | sha256sum", "reading the pristine copy")
        return result.split()[0] if result.split() else ""

    def _seed(self, session: BoardSession, device: str) -> None:
        if self._pristine_sha256(session, device) == self.base_sha256:
            return
        self.progress(f"{self.board.name}: writing the starting image behind the crash disk on {device}")
        packed = base64.b64encode(gzip.compress(self.base.read_bytes(), 9)).decode()
        self._on_board(session, ": > /tmp/base.b64", "sending the starting image")
        for start in range(0, len(packed), CHUNK):
            self._on_board(session, f"printf %s '{packed[start:start + CHUNK]}' >> /tmp/base.b64",
                           "sending the starting image")
        self._on_board(session, f"base64 -d /tmp/base.b64 | gunzip | dd of={shlex.quote(device)} bs=1M "
                                f"seek={DISK_BYTES // MIB} conv=fsync 2>&1 && rm /tmp/base.b64",
                       "writing the starting image")
        if self._pristine_sha256(session, device) != self.base_sha256:
            raise BoardError(self.board.name, f"the starting image written to {device} does not read back "
                             "the same: the device loses writes")

    def _restore(self, session: BoardSession, device: str) -> None:
        """The crash disk becomes the starting image again (file system and an empty mark area)."""
        with self.phases("starting image restored"):
            self._on_board(session, f"dd if={shlex.quote(device)} of={shlex.quote(device)} bs=1M "
                                    f"skip={DISK_BYTES // MIB} count={DISK_BYTES // MIB} conv=fsync 2>&1",
                           "restoring the starting image")

    def _on_board(self, session: BoardSession, command: str, what: str) -> str:
        result = session.run(command, timeout_s=300)
        if not result.ok:
            raise BoardError(self.board.name, f"{what} failed: {(result.text + result.stderr.decode(errors='replace')).strip()[-300:]}")
        return result.text

    # --- a run ----------------------------------------------------------------------------------
    def _cut_window(self, scenario: str, ops) -> tuple[float, float]:
        """When the ops run, in seconds after the workload is sent: (begin, length). Measured once
        per scenario in a session of its own, from the guest's clock around the ops and the host's
        around the whole command (what is left is the way there and back over the console)."""
        cache = self.work / "cut-windows.json"
        windows = json.loads(cache.read_text()) if cache.exists() else {}
        if scenario not in windows:
            with self._session(f"{scenario}-timing") as session:
                device = self._device(session)
                self._restore(session, device)
                result = session.run(workload_script(WORK, format_ops(ops), unmount=True, device=device,
                                                     timed=True), timeout_s=600)
            clock = {w[0]: int(w[1]) / 1e9 for w in (line.split() for line in result.text.splitlines())
                     if len(w) == 2 and w[0] in ("t0", "t1", "t2", "t3") and w[1].isdigit()}
            if not result.ok or len(clock) != 4:
                raise BoardError(self.board.name, f"timing the workload {scenario} failed: "
                                 f"{(result.text + result.stderr.decode(errors='replace')).strip()[-300:]}")
            sent = max(0.0, result.duration_s - (clock["t3"] - clock["t0"]))   # there and back
            windows[scenario] = [sent + clock["t1"] - clock["t0"], clock["t2"] - clock["t1"]]
            cache.write_text(json.dumps(windows))
        begin, length = windows[scenario]
        return begin, length

    def _one_run(self, scenario: str, run: int) -> None:
        current = self._workload(scenario, run)
        state = PendingState(scenario, run, "power-cut", self.out / "runs" / f"{scenario}-{run}.cut")
        if state.key not in self.done:
            if not state.source.exists():   # else: cut before a kill, still to be checked
                self._cut_during_workload(scenario, run, current)
            self._check_after_cut(state)
        self._finish_run(scenario, run, [state.source])

    def _cut_during_workload(self, scenario: str, run: int, current) -> None:
        begin, length = self._cut_window(scenario, current.ops)
        delay = begin + random.Random(current.seed).uniform(0.0, 1.0) * length   # inside the ops
        with self._session(f"{scenario}-{run}") as session:
            device = self._device(session)
            self._restore(session, device)
            session.agent.start(workload_script(WORK, format_ops(current.ops), unmount=False, device=device),
                                timeout_s=600)
            time.sleep(delay)
            with self.phases("power cut"):
                session.power_cut()
        paths.write_atomic(self.out / "runs" / f"{scenario}-{run}.cut", json.dumps({"after_s": round(delay, 3)}))
        self.progress(f"{scenario} run {run}: power cut {delay:.2f} s into the workload")

    def _check_after_cut(self, state: PendingState) -> None:
        cut = json.loads(state.source.read_text())
        with self._session(f"{state.scenario}-{state.run}-recovery") as session:
            device = self._device(session)   # proven again: after a power cycle devices may be found anew
            log = session.run_dir / "console.log"
            start = log.stat().st_size if log.exists() else 0
            with self.phases("guest check", guest=True) as check:
                output = session.run(recovery_script(device), timeout_s=600).text
            report_text, _, rest = output.partition(f"\n{FSCK_MARK}\n")
            report = parse_check_output(report_text, ["scratch"])["scratch"]
            try:
                fsck, marks = parse_fsck_and_marks(rest)
            except ValueError as err:
                raise BoardError(self.board.name, f"checking {state.key} on {device}: {err}",
                                 output[-2000:]) from None
            self._guest_steps([report], check.wall_s)
            console = {"log": str(log), "from": start, "to": log.stat().st_size if log.exists() else 0,
                       "device": device}
            self._record(state, marks, report, fsck, console,
                         {"boot_s": round(session.boot_s, 3), "boot_mode": session.boot_mode,
                          "cut_after_s": cut.get("after_s")})


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
