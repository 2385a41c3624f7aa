"""A Board: flash an artifact onto it, then open sessions that boot it and talk to its agent.

Campaigns use Board and BoardSession only; what drives the hardware (QEMU here)
stays behind them. A board shared through a lab is held by the `hold` its creator passes in
(sisctl.jobs.boards gives the fleet's); a board nobody shares needs none beyond its file lock.
"""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sys
import time
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from sisctl import paths, proc
from sisctl.net import free_port
from sisctl.provenance import provenance
from sisctl.board.agent import Agent, CommandResult
from sisctl.board.console import Console, open_port
from sisctl.board import datalink
from sisctl.board.errors import AgentError, BoardError, ConsoleLost
from sisctl.board.boot import METHODS, BootRequest
from sisctl.board.lock import BoardLock, console_lock
from sisctl.board.power import power_cycle, power_set
from sisctl.board.qemu import Disk, QemuLaunch, QemuMachine, create_vmstate, vmstate_problem
from sisctl.board.spec import BoardSpec
from sisctl.board.target import module as target_kind
from sisctl.board.uboot import BootFiles
from sisctl.build.artifact import Artifact
from sisctl.errors import UsageError
from sisctl.image.guest import agent_digest
from sisctl.image.kernel import notes_build_id

SNAPSHOT_PING_S = 10.0

Hold = Callable[[str], AbstractContextManager]   # board name -> held while the block runs


def not_shared(name: str) -> AbstractContextManager:
    """The hold of a board no coordinator shares: its file lock is all there is."""
    return nullcontext()


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
    def __init__(self, spec: BoardSpec, state_root: Path | None = None, reports: Path | None = None,
                 hold: Hold = not_shared):
        self.spec, self.name, self.hold = spec, spec.name, hold
        self.state = (state_root or paths.state_dir()) / "boards" / spec.name
        self.state.mkdir(parents=True, exist_ok=True)
        self.reports = reports
        self._set_aside_damaged_record()

    def _set_aside_damaged_record(self) -> None:
        """A flash record that cannot be read (torn by a crash, edited by hand) is moved aside, so the
        board counts as not flashed and is flashed again instead of failing on every use."""
        path = self.state / "flashed.json"
        try:
            FlashRecord(**json.loads(path.read_text()))
        except FileNotFoundError:
            pass
        except (ValueError, TypeError) as err:
            damaged = paths.set_aside(path)
            print(f"{self.name}: {path} is damaged ({str(err)[:120]}); moved to {damaged.name}, "
                  "the board counts as not flashed", file=sys.stderr)

    @property
    def has_agent(self) -> bool:
        """Whether sisctl's agent answers on this board (its target: sisctl/board/target/)."""
        return target_kind(self.spec.target.kind).has_agent(self.spec)

    @property
    def stages_kernel(self) -> bool:
        """Whether sisctl gives this board its kernel (boot method installed: it runs its own)."""
        return getattr(METHODS[self.spec.boot.method], "STAGES_KERNEL", True)

    def guest_image(self, artifact: Artifact) -> Path:
        """The initramfs this board boots beside `artifact`: its target's (sisctl's agent image by default)."""
        return target_kind(self.spec.target.kind).guest_image(self, artifact)

    # --- flashing ------------------------------------------------------------
    def flash(self, artifact: Artifact | None, progress: Callable[[str], None] = print) -> dict:
        """Install `artifact` on the board, prove it boots to the agent, and save a ready snapshot.
        A board that runs its installed kernel gets none (`artifact` is ignored): its kernel is recorded."""
        with self.hold(self.name):
            if not self.stages_kernel:
                return self._record_installed(progress)
            return self._flash(artifact, progress)

    def _record_installed(self, progress: Callable[[str], None]) -> dict:
        """Boot the board as it is and record its running kernel as the flashed one."""
        with BoardLock(self.state / "lock", self.name):
            (self.state / "flashed.json").unlink(missing_ok=True)
        progress(f"{self.name}: boot method installed: nothing to flash; recording the kernel it runs")
        with self.session(fast=False, label="flash") as session:
            release = session.run("uname -r", 30)
            notes = session.run("base64 /sys/kernel/notes", 30)
        kernel_version = release.text.strip() if release.ok else None
        build_id = notes_build_id(base64.b64decode(notes.stdout)) if notes.ok else None
        record = FlashRecord("", "", f"installed:{build_id or kernel_version}", build_id, kernel_version,
                             time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), agent_digest())
        self._write_flashed(record)
        return {"board": self.name, "boot_s": session.boot_s, "run_dir": str(session.run_dir), **record.__dict__}

    def _flash(self, artifact: Artifact, progress: Callable[[str], None]) -> dict:
        artifact.verify()
        for key, name in (("boot.dtb", self.spec.boot.dtb), ("qemu.dtb", self.spec.qemu and self.spec.qemu.dtb)):
            if name and not (artifact.dtbs / name).is_file():   # found now, not at the verify boot
                raise UsageError(f"{self.spec.source}: key '{key}': the kernel {artifact.root.name} has no "
                                 f"device tree {name} (in {artifact.dtbs})")
        initrd = self.guest_image(artifact)
        record = FlashRecord(str(artifact.root), str(initrd), artifact.sha256, artifact.build_id,
                             artifact.manifest.get("kernel_version"),
                             time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), agent_digest())
        with BoardLock(self.state / "lock", self.name):
            (self.state / "flashed.json").unlink(missing_ok=True)    # until the new kernel has booted
            (self.state / "snapshots.json").unlink(missing_ok=True)
            (self.state / "vmstate.qcow2").unlink(missing_ok=True)   # a new kernel starts a new snapshot file
        progress(f"{self.name}: flashing {artifact.root.name}; booting to verify")
        with self.session(fast=False, label="flash", artifact=artifact, initrd=initrd) as session:
            if self.spec.qemu and target_kind(self.spec.target.kind).SNAPSHOTS:
                session.save_ready_snapshot()
            # Only a kernel that booted to the agent is the flashed one: after a failed flash nothing
            # is, and the next command says so instead of booting what never worked.
            self._write_flashed(record)
            return {"board": self.name, "boot_s": session.boot_s, "run_dir": str(session.run_dir),
                    **record.__dict__}

    def _write_flashed(self, record: FlashRecord) -> None:
        paths.write_atomic(self.state / "flashed.json", json.dumps(record.__dict__, indent=1) + "\n")

    def flashed(self) -> FlashRecord:
        try:
            record = FlashRecord(**json.loads((self.state / "flashed.json").read_text()))
        except FileNotFoundError:
            raise BoardError(self.name, f"nothing is flashed; run 'invoke flash --board {self.name}'") from None
        if record.agent != agent_digest():
            raise BoardError(self.name, "the flashed guest image holds an older agent than this sisctl; "
                             f"run 'invoke flash --board {self.name}'")
        return record

    def provenance(self, flashed: FlashRecord | None = None) -> dict:
        """Where this board's results come from: the flashed kernel, QEMU's version (or 'board'), sisctl."""
        return provenance(self.name, flashed or self.flashed(), self.spec.qemu.binary if self.spec.qemu else None)

    # --- sessions --------------------------------------------------------------
    @contextmanager
    def session(self, *, fast: bool = True, append: str = "", label: str = "session",
                ready_timeout_s: float | None = None, disks: list[Disk] = (), artifact: Artifact | None = None,
                initrd: Path | None = None, qemu_args: list[str] = (),
                run_dir: Path | None = None) -> Iterator["BoardSession"]:
        """Boot the flashed artifact (or `artifact`, without flashing it) and yield a live session.

        With `fast`, boot from the ready snapshot for this kernel, command line and
        set of disks; if there is none yet, boot cold and save one. `initrd` is the guest image
        for `artifact` (built when not given). `qemu_args` are extra QEMU options for this
        session only (e.g. -icount). `run_dir` gets its console log (default: a new folder under
        reports/runs)."""
        if artifact is not None and not self.stages_kernel:
            raise UsageError(f"{self.name}: boot method installed runs the board's own kernel; it cannot boot "
                             f"{artifact.root.name} (a benchmark's or a KTAP campaign's kernels need a board "
                             "sisctl boots)")
        if disks and not self.spec.qemu:
            raise BoardError(self.name, "extra disks (ext4-crash campaigns record every write to one) "
                             "exist only on QEMU boards; this is a real board")
        with self.hold(self.name), BoardLock(self.state / "lock", self.name):
            session = BoardSession(self, run_dir or new_run_dir(self.name, label, self.reports))
            session.artifact, session.initrd, session.qemu_args = artifact, initrd, list(qemu_args)
            try:
                session.boot(fast=fast, append=append, disks=list(disks),
                             ready_timeout_s=ready_timeout_s or self.spec.boot.ready_timeout_s)
                yield session
            finally:   # a cleanup failure must not hide the error that ended the session
                session.close(cause=sys.exc_info()[1])

    def _snapshots(self) -> dict:
        try:
            return json.loads((self.state / "snapshots.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _remember_snapshot(self, key: str, tag: str) -> None:
        snapshots = self._snapshots()
        snapshots[key] = tag
        paths.write_atomic(self.state / "snapshots.json", json.dumps(snapshots, indent=1) + "\n")


class BoardSession:
    """One boot of a board, from off to the agent answering, and back to off. The boot method
    (sisctl/board/boot/) decides the steps; the session gives them and undoes them at its end."""

    def __init__(self, board: Board, run_dir: Path):
        self.board, self.run_dir, self.name = board, run_dir, board.name
        self.machine: QemuMachine | None = None
        self.console: Console | None = None
        self.agent: Agent | None = None          # sisctl's agent, where the target is it
        self.target = None                       # what runs commands (sisctl/board/target/)
        self._prepared = None                    # what the target set up before the boot
        self.boot_mode = ""
        self.boot_s = 0.0
        self._snapshot_key = ""
        self._undo: list[tuple[str, Callable[[], None]]] = []   # what ends the session, in reverse order
        self.progress: Callable[[str], None] = lambda _: None
        self.artifact: Artifact | None = None    # boot this instead of the flashed artifact
        self.initrd: Path | None = None          # and this guest image for it
        self.qemu_args: list[str] = []
        self.data_address: tuple[str, int] | None = None   # where the host reaches the data link

    def guest_cpu_s(self) -> float | None:
        """The emulator's CPU seconds so far (None for a real board, or QEMU not running)."""
        return self.machine.cpu_seconds() if self.machine else None

    def boot(self, *, fast: bool, append: str, disks: list[Disk], ready_timeout_s: float) -> None:
        kind = target_kind(self.board.spec.target.kind)
        self._prepared = kind.prepare(self)
        link = self.board.spec.data_link
        if link is not None:
            append = f"{append} {datalink.cmdline_word(link)}".strip()
            self.data_address = datalink.reached_at(link)
        request = BootRequest(fast and kind.SNAPSHOTS, append, disks, ready_timeout_s)
        METHODS[self.board.spec.boot.method].boot(self, request)
        self.target.after_boot()

    # --- steps for the boot methods --------------------------------------------------------
    def boot_qemu(self, launch: QemuLaunch, identity: list[str], request: BootRequest,
                  cold: Callable[[], None], mode: str) -> None:
        """A QEMU machine booted by `cold()` (which starts it), or with `request.fast` from the ready
        snapshot of the same guest (`identity`: what QEMU starts with, plus what a loader brings)."""
        for disk in request.disks:
            if disk.log:   # QEMU does not truncate a log; stale entries would look valid
                disk.log.write_bytes(b"")
        image_sha256 = self.artifact.sha256 if self.artifact else self.board.flashed().image_sha256
        self._snapshot_key = hashlib.sha256(json.dumps([identity, image_sha256]).encode()).hexdigest()[:16]
        tag = self.board._snapshots().get(self._snapshot_key) if request.fast else None
        started = time.monotonic()
        if tag:
            try:
                self.start_qemu(launch, loadvm=tag)
                self.agent.ping(SNAPSHOT_PING_S)
                self.boot_mode, self.boot_s = "snapshot", time.monotonic() - started
                return
            except (BoardError, AgentError):
                self._power_off()   # stale snapshot: fall back to a cold boot
                started = time.monotonic()
        cold()
        self.boot_mode = mode
        self.wait_ready(request.ready_timeout_s)
        self.boot_s = time.monotonic() - started
        if request.fast:
            self.save_ready_snapshot()

    def boot_real(self, bring_up: Callable[[], None], request: BootRequest, mode: str = "loader") -> None:
        """A real board: `bring_up()` switches it on into the kernel under test; every such session boots cold."""
        started = time.monotonic()
        bring_up()
        self.wait_ready(request.ready_timeout_s)
        self.boot_mode, self.boot_s = mode, time.monotonic() - started

    def data_forward(self) -> tuple[int, int] | None:
        """A QEMU board's data link: the forward from a free port on 127.0.0.1 to the board's port
        that its launch gets (QemuLaunch.data_forward), which the link then uses."""
        link = self.board.spec.data_link
        if link is None:
            return None
        port = free_port()
        self.data_address = ("127.0.0.1", port)
        return port, link.port

    @property
    def link(self):
        """Files to and from the board: over its network where it has one, else the console."""
        return datalink.link_of(self)

    def vmstate(self) -> Path:
        """The qcow2 file that holds this board's ready snapshots (a damaged one is set aside)."""
        vmstate = self.board.state / "vmstate.qcow2"
        problem = vmstate_problem(vmstate) if vmstate.exists() else None
        if problem:   # damaged: set it aside and boot cold, saving a new snapshot
            damaged = paths.set_aside(vmstate)
            (self.board.state / "snapshots.json").unlink(missing_ok=True)
            print(f"{self.name}: {vmstate} is damaged ({problem}); moved to {damaged.name}; a cold boot "
                  "saves a new snapshot", file=sys.stderr)
        if not vmstate.exists():
            create_vmstate(vmstate)
        return vmstate

    def tftp_root(self) -> Path:
        """The folder QEMU's own TFTP server serves to a QEMU board's firmware."""
        return self.board.state / "tftp"

    def wait_ready(self, timeout_s: float) -> None:
        try:
            self.target.wait_ready(timeout_s)
        except ConsoleLost as lost:
            exit_report = self.machine.exit_report() if self.machine else None
            raise BoardError(self.name, exit_report or lost.message, lost.log_tail) from None

    def boot_files(self, append: str, dtb: str | None, dtb_remove: list[str] = ()) -> BootFiles:
        """The kernel, guest image, device tree and command line this session boots."""
        spec = self.board.spec
        if self.artifact:   # a given artifact brings its own guest image; nothing flashed is needed
            artifact = self.artifact
            initrd = self.initrd or self.board.guest_image(artifact)
        else:
            flashed = self.board.flashed()
            artifact, initrd = flashed.load_artifact(), Path(flashed.initrd)
        return BootFiles(artifact.image, initrd, self._dtb(artifact, dtb, dtb_remove),
                         f"{spec.boot.cmdline} {append}".strip(), prefix=self.name)

    def _dtb(self, artifact: Artifact, name: str | None, remove: list[str] = ()) -> Path | None:
        """A device tree from the artifact, with the nodes the board says to drop removed
        (on a Pi 3 the PL011's Bluetooth child would take the console's input away)."""
        if not name:
            return None
        source = artifact.dtbs / name
        if not source.exists():
            raise UsageError(f"{self.name}: the kernel {artifact.root.name} has no device tree {name} "
                             f"(in {artifact.dtbs})")
        if not remove:
            return source
        key = hashlib.sha256(source.read_bytes() + json.dumps(list(remove)).encode()).hexdigest()[:12]
        edited = self.board.state / f"{source.stem}-{key}.dtb"
        if not edited.exists():
            with paths.written_into_place(edited) as partial:
                shutil.copyfile(source, partial)
                for node in remove:
                    proc.run(["fdtput", "-r", partial, node], timeout=30)
        return edited

    def start_qemu(self, launch: QemuLaunch, loadvm: str | None = None) -> None:
        """Start the QEMU machine (paused at snapshot `loadvm`, then running) with its console open."""
        self.machine = QemuMachine(self.board.spec.qemu, launch, self.name, self.run_dir)
        self.on_close("stopping QEMU", self.machine.stop)
        self.machine.start(paused=bool(loadvm))
        self.open_console(self.machine.console_url)
        if loadvm:
            self.machine.load_snapshot(loadvm)
            self.machine.qmp("cont")

    def power_on(self, launch: QemuLaunch | None) -> None:
        """Start the QEMU machine, or switch a real board on with its console already listening."""
        if launch is not None:
            self.start_qemu(launch)
            return
        spec = self.board.spec
        self.open_console(spec.console.url)
        self.on_close("switching the board off", lambda: power_set(spec.power, False))
        power_cycle(spec.power)

    def open_console(self, url: str) -> None:
        spec = self.board.spec.console
        if self.machine is None:   # a real console: possibly named by other boards or users too
            lock = console_lock(self.board.state.parent.parent, url, self.name)
            lock.__enter__()
            self.on_close("releasing the console", lambda: lock.__exit__(None, None, None))
        port = open_port(url, spec.baudrate, spec.open_timeout_s, self.name)
        self.console = Console(port, self.run_dir / "console.log", self.name, spec.ignore_reports,
                               spec.crash_grace_s)
        if self.machine is not None:
            self.console.watch = self.machine.check_io_error
        self.target = target_kind(self.board.spec.target.kind).attach(self, self._prepared)

    def on_close(self, what: str, step: Callable[[], None]) -> None:
        """Run `step` when the session ends (after the console closes, the last registered first);
        `what` names it in errors."""
        self._undo.append((what, step))

    def _power_off(self, cause: BaseException | None = None) -> None:
        """Undo what this session did: close the console, then the steps its boot registered, last
        first (stop QEMU; switch a board off or bring a Pi's own OS back; release the console).

        Every step is tried. With `cause` (the error that ended the session) a failing step is
        noted on it instead of replacing it; without, the first failure is raised."""
        link = [("closing the link to the target", self.target.close)] if self.target else []
        console = [("closing the console", self.console.close)] if self.console else []
        steps, self._undo = link + console + self._undo[::-1], []
        self.console = self.agent = self.target = self.machine = None
        first: BaseException | None = None
        for what, step in steps:
            try:
                step()
            except Exception as err:   # noqa: BLE001 - each is reported, none may skip the others
                note = f"{self.name}: also failed while {what}: {str(err).partition(chr(10))[0]}"
                if cause is not None or first is not None:
                    (cause or first).add_note(note)
                else:
                    first = err
        if first is not None:
            raise first

    # --- what campaigns use -------------------------------------------------------------------
    def run(self, command: str, timeout_s: float = 60.0) -> CommandResult:
        return self.target.run(command, timeout_s)

    def save_ready_snapshot(self) -> None:
        """Save the machine as it is now (agent ready) for later fast boots."""
        tag = f"ready-{self._snapshot_key}"
        vmstate = self.board.state / "vmstate.qcow2"
        try:
            self.machine.save_snapshot(tag)
        except BoardError as err:
            # A half-written snapshot is of no use and may be most of a full disk: the file goes (QEMU
            # lets go of it when it stops); the next boot starts a new one.
            vmstate.unlink(missing_ok=True)
            (self.board.state / "snapshots.json").unlink(missing_ok=True)
            free = shutil.disk_usage(vmstate.parent).free >> 20
            raise BoardError(self.name, f"saving the ready snapshot into {vmstate} failed ({err.message}); "
                             f"{free} MiB free on its disk; the partial snapshot was removed") from None
        self.board._remember_snapshot(self._snapshot_key, tag)

    def reset(self) -> None:
        """Hard reset through QMP, as a power cycle would."""
        self.machine.qmp("system_reset")

    def power_cut(self) -> None:
        """Pull the plug now: QEMU is killed (what it has not written is lost), a real board is
        switched off through its power switch. No command runs after it; the session's end does the rest."""
        if self.machine is not None:
            self.machine.kill()
        else:
            power_set(self.board.spec.power, False)

    def close(self, cause: BaseException | None = None) -> None:
        self._power_off(cause)
