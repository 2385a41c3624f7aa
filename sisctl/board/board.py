"""A Board: flash an artifact onto it, then open sessions that boot it and talk to its agent.

Campaigns use Board and BoardSession only; what drives the hardware (QEMU here)
stays behind them.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from sisctl import paths, proc
from sisctl.board.agent import Agent, CommandResult
from sisctl.board.console import Console, open_port
from sisctl.board.errors import AgentError, BoardError, ConsoleLost
from sisctl.board.lock import BoardLock
from sisctl.board.qemu import Disk, QemuLaunch, QemuMachine, create_vmstate
from sisctl.board.spec import BoardSpec
from sisctl.build.artifact import Artifact
from sisctl.image.guest import agent_digest, build_guest

SNAPSHOT_PING_S = 10.0


@dataclass
class FlashRecord:
    artifact: str
    initrd: str
    image_sha256: str
    build_id: str | None
    kernel_version: str | None
    flashed_at: str
    agent: str = ""          # digest of the agent sources in the guest image

    def load_artifact(self) -> Artifact:
        return Artifact.load(Path(self.artifact))


def new_run_dir(board: str, label: str, root: Path | None = None) -> Path:
    return paths.unique_dir((root or paths.reports_dir()) / "runs", f"{time.strftime('%Y%m%d-%H%M%S')}-{board}-{label}")


class Board:
    def __init__(self, spec: BoardSpec, state_root: Path | None = None, reports: Path | None = None):
        self.spec, self.name = spec, spec.name
        self.state = (state_root or paths.state_dir()) / "boards" / spec.name
        self.state.mkdir(parents=True, exist_ok=True)
        self.reports = reports
        if spec.boot.method != "qemu":
            raise BoardError(self.name, f"boot method {spec.boot.method!r} is not supported yet")

    # --- flashing ------------------------------------------------------------
    def flash(self, artifact: Artifact, progress: Callable[[str], None] = print) -> dict:
        """Install `artifact` on the board, prove it boots to the agent, and save a ready snapshot."""
        artifact.verify()
        initrd = build_guest(artifact, self.spec.boot.modules)
        record = FlashRecord(str(artifact.root), str(initrd), artifact.sha256, artifact.build_id,
                             artifact.manifest.get("kernel_version"),
                             time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), agent_digest())
        with BoardLock(self.state, self.name):
            (self.state / "flashed.json").write_text(json.dumps(record.__dict__, indent=1) + "\n")
            (self.state / "snapshots.json").unlink(missing_ok=True)
        progress(f"{self.name}: flashed {artifact.root.name}; booting to verify")
        with self.session(fast=False, label="flash") as session:
            session.save_ready_snapshot()
            return {"board": self.name, "boot_s": session.boot_s, "run_dir": str(session.run_dir),
                    **record.__dict__}

    def flashed(self) -> FlashRecord:
        try:
            record = FlashRecord(**json.loads((self.state / "flashed.json").read_text()))
        except FileNotFoundError:
            raise BoardError(self.name, f"nothing is flashed; run 'invoke flash --board {self.name}'") from None
        if record.agent != agent_digest():
            raise BoardError(self.name, "the flashed guest image holds an older agent than this sisctl; "
                             f"run 'invoke flash --board {self.name}'")
        return record

    # --- sessions --------------------------------------------------------------
    @contextmanager
    def session(self, *, fast: bool = True, append: str = "", label: str = "session",
                ready_timeout_s: float | None = None, disks: list[Disk] = ()) -> Iterator["BoardSession"]:
        """Boot the flashed artifact and yield a live session.

        With `fast`, boot from the ready snapshot for this kernel, command line and
        set of disks; if there is none yet, boot cold and save one."""
        with BoardLock(self.state, self.name):
            session = BoardSession(self, new_run_dir(self.name, label, self.reports))
            try:
                session.boot(fast=fast, append=append, disks=list(disks),
                             ready_timeout_s=ready_timeout_s or self.spec.boot.ready_timeout_s)
                yield session
            finally:
                session.close()

    def _snapshots(self) -> dict:
        try:
            return json.loads((self.state / "snapshots.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _remember_snapshot(self, key: str, tag: str) -> None:
        snapshots = self._snapshots()
        snapshots[key] = tag
        (self.state / "snapshots.json").write_text(json.dumps(snapshots, indent=1) + "\n")


class BoardSession:
    def __init__(self, board: Board, run_dir: Path):
        self.board, self.run_dir, self.name = board, run_dir, board.name
        self.machine: QemuMachine | None = None
        self.console: Console | None = None
        self.agent: Agent | None = None
        self.boot_mode = ""
        self.boot_s = 0.0
        self._snapshot_key = ""

    def boot(self, *, fast: bool, append: str, disks: list[Disk], ready_timeout_s: float) -> None:
        spec, flashed = self.board.spec, self.board.flashed()
        artifact = flashed.load_artifact()
        for disk in disks:
            if disk.log:   # QEMU does not truncate a log; stale entries would look valid
                disk.log.write_bytes(b"")
        vmstate = self.board.state / "vmstate.qcow2"
        if not vmstate.exists():
            create_vmstate(vmstate)
        cmdline = f"{spec.boot.cmdline} {append}".strip()
        launch = QemuLaunch(artifact.image, Path(flashed.initrd), cmdline, self._dtb(artifact), vmstate, disks)
        self._snapshot_key = hashlib.sha256(json.dumps(
            [launch.snapshot_identity(spec.qemu), flashed.image_sha256]).encode()).hexdigest()[:16]
        tag = self.board._snapshots().get(self._snapshot_key) if fast else None
        started = time.monotonic()
        if tag:
            try:
                self._power_on(launch, loadvm=tag)
                self.agent.ping(SNAPSHOT_PING_S)
                self.boot_mode, self.boot_s = "snapshot", time.monotonic() - started
                return
            except (BoardError, AgentError):
                self._power_off()   # stale snapshot: fall back to a cold boot
                started = time.monotonic()
        self._power_on(launch)
        try:
            self.agent.wait_ready(ready_timeout_s)
        except ConsoleLost as lost:
            raise BoardError(self.name, self.machine.exit_report() or lost.message, lost.log_tail) from None
        self.boot_mode, self.boot_s = "cold", time.monotonic() - started
        if fast:
            self.save_ready_snapshot()

    def _dtb(self, artifact: Artifact) -> Path | None:
        """The board's device tree from the artifact, with the nodes the board says to drop removed
        (on a Pi 3 the PL011's Bluetooth child would take the console's input away)."""
        spec = self.board.spec.qemu
        if not spec.dtb:
            return None
        source = artifact.dtbs / spec.dtb
        if not source.exists():
            raise BoardError(self.name, f"the artifact has no device tree {spec.dtb} (in {artifact.dtbs})")
        if not spec.dtb_remove:
            return source
        key = hashlib.sha256(source.read_bytes() + json.dumps(spec.dtb_remove).encode()).hexdigest()[:12]
        edited = self.board.state / f"{source.stem}-{key}.dtb"
        if not edited.exists():
            partial = edited.with_suffix(".partial")
            shutil.copyfile(source, partial)
            for node in spec.dtb_remove:
                proc.run(["fdtput", "-r", partial, node], timeout=30)
            partial.rename(edited)
        return edited

    def _power_on(self, launch: QemuLaunch, loadvm: str | None = None) -> None:
        spec = self.board.spec
        self.machine = QemuMachine(spec.qemu, launch, self.name, self.run_dir)
        self.machine.start(paused=bool(loadvm))
        port = open_port(self.machine.console_url, spec.console.baudrate, spec.console.open_timeout_s, self.name)
        self.console = Console(port, self.run_dir / "console.log", self.name,
                               spec.console.ignore_reports, spec.console.crash_grace_s)
        self.agent = Agent(self.console, self.name)
        if loadvm:
            self.machine.load_snapshot(loadvm)
            self.machine.qmp("cont")

    def _power_off(self) -> None:
        if self.console:
            self.console.close()
        if self.machine:
            self.machine.stop()
        self.console = self.agent = self.machine = None

    def run(self, command: str, timeout_s: float = 60.0) -> CommandResult:
        return self.agent.run(command, timeout_s)

    def save_ready_snapshot(self) -> None:
        """Save the machine as it is now (agent ready) for later fast boots."""
        tag = f"ready-{self._snapshot_key}"
        self.machine.save_snapshot(tag)
        self.board._remember_snapshot(self._snapshot_key, tag)

    def reset(self) -> None:
        """Hard reset through QMP, as a power cycle would."""
        self.machine.qmp("system_reset")

    def close(self) -> None:
        self._power_off()
