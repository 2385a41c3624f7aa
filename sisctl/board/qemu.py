"""A QEMU machine: launched with an explicit command line, controlled through QMP, always stopped."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from qemu.qmp import QMPError
from qemu.qmp.legacy import QEMUMonitorProtocol

from sisctl import proc
from sisctl.board.errors import BoardError, BoardUnreachable
from sisctl.config import between, max_bytes
from sisctl.net import free_port

ARG_MAX_STRLEN = 131071   # Linux's limit for one argument of a command line

START_TIMEOUT_S = 20.0
QMP_TIMEOUT_S = 10.0     # one QMP command; QEMU answers in milliseconds unless it is stopped or hung
WATCH_QMP_TIMEOUT_S = 10.0  # the status check a waiting console makes every few seconds (a loaded host
                            # under -icount can keep QEMU's main loop busy for a while)


@dataclass
class QemuSpec:
    binary: str = "qemu-system-aarch64"
    machine: str = "virt"
    cpu: str | None = "max,pauth-impdef=on"   # model[,options]; null: the machine's own CPU (raspi3b)
    memory_mb: Annotated[int, between(16, 1 << 20)] = 512
    smp: Annotated[int, between(1, 512)] = 1
    dtb: str | None = None           # relative to the artifact's dtbs/ folder
    dtb_remove: list[str] = field(default_factory=list)   # device-tree nodes to drop (fdtput -r)
    no_reboot: bool = True           # a guest reboot (panic=-1) ends QEMU
    firmware: str | None = None      # boot firmware run as -bios (U-Boot); the kernel then comes through it
    extra_args: list[Annotated[str, max_bytes(ARG_MAX_STRLEN, "one argument")]] = field(default_factory=list)
    disk_iops: Annotated[int, between(1, 1_000_000)] | None = None   # cap on each campaign disk: slow storage


def option_value(value: Path | str) -> str:
    """Escape a value inside a QEMU -option a=b,c=d list."""
    return str(value).replace(",", ",,")


# A guest shell function: `dev=$(disk SERIAL)` is the virtio disk with that serial.
FIND_DISK = ('disk() { for b in /sys/block/vd*; do [ "$(cat $b/serial 2>/dev/null)" = "$1" ] && '
             '{ echo /dev/${b##*/}; return; }; done; echo "no disk with serial $1" >&2; exit 3; }\n')


def mount_script(serial: str, at: str, read_only: bool = False) -> str:
    """A guest shell script that mounts the ext4 virtio disk with `serial` at `at`."""
    return (f"set -e\n{FIND_DISK}dev=$(disk {serial})\nmkdir -p {at}\n"
            f"mount -t ext4 {'-o ro ' if read_only else ''}$dev {at}\n")


@dataclass(frozen=True)
class Disk:
    """A virtio disk backed by a raw image; with `log`, every write and flush is recorded (blklogwrites).

    The guest finds it as the virtio disk whose serial is `name`. With `flushes=False` the guest's
    flushes complete without reaching the host's disk (a scratch image the host reads back through
    its page cache: the guest sees no difference, the host skips an fdatasync per flush)."""
    name: str
    image: Path
    log: Path | None = None
    flushes: bool = True

    def args(self, iops: int | None = None) -> list[str]:
        """QEMU options of the disk; `iops` caps its requests per second (slow storage, as an SD card is)."""
        n = self.name
        top = f"{n}-full-speed" if iops else n
        if self.log:
            nodes = [f"driver=file,filename={option_value(self.image)},node-name={n}-base,cache.direct=on",
                     f"driver=file,filename={option_value(self.log)},node-name={n}-log",
                     f"driver=blklogwrites,file={n}-base,log={n}-log,node-name={top},log-append=off"]
        else:
            no_flush = "" if self.flushes else ",cache.no-flush=on"
            nodes = [f"driver=file,filename={option_value(self.image)},node-name={n}-file{no_flush}",
                     f"driver=raw,file={n}-file,node-name={top}"]
        args = [a for node in nodes for a in ("-blockdev", node)]
        if iops:
            args += ["-object", f"throttle-group,id={n}-throttle,x-iops-total={iops}",
                     "-blockdev", f"driver=throttle,throttle-group={n}-throttle,file={top},node-name={n}"]
        return args + ["-device", f"virtio-blk-pci,drive={n},id={n}-dev,serial={n}"]


@dataclass
class QemuLaunch:
    """Everything the guest sees; two launches with equal keys can share a snapshot."""
    kernel: Path | None              # None: the firmware loads the kernel (U-Boot)
    initrd: Path | None
    cmdline: str
    dtb: Path | None = None
    firmware: Path | None = None     # -bios
    tftp_root: Path | None = None    # QEMU's own TFTP server on a guest-only network (restrict=on)
    data_forward: tuple[int, int] | None = None   # (port on 127.0.0.1, the guest's port): the data link
    vmstate: Path | None = None          # qcow2 that holds VM snapshots
    disks: list[Disk] = field(default_factory=list)
    extra_args: list[str] = field(default_factory=list)

    def guest_args(self, spec: QemuSpec) -> list[str]:
        args = ["-M", spec.machine, *(["-cpu", spec.cpu] if spec.cpu else []), "-m", str(spec.memory_mb),
                "-smp", str(spec.smp),
                "-nodefaults", "-no-user-config", "-display", "none"]
        if self.kernel:
            args += ["-kernel", str(self.kernel), "-initrd", str(self.initrd), "-append", self.cmdline]
        if self.firmware:
            args += ["-bios", str(self.firmware)]
        if self.tftp_root or self.data_forward:
            net = "user,id=net0,restrict=on"
            if self.tftp_root:
                net += f",tftp={option_value(self.tftp_root)}"
            if self.data_forward:
                net += f",hostfwd=tcp:127.0.0.1:{self.data_forward[0]}-:{self.data_forward[1]}"
            args += ["-netdev", net, "-device", "virtio-net-pci,netdev=net0"]
        if self.dtb:
            args += ["-dtb", str(self.dtb)]
        if spec.no_reboot:
            args.append("-no-reboot")
        if self.vmstate:
            args += ["-blockdev", f"driver=file,filename={option_value(self.vmstate)},node-name=vmstate-file",
                     "-blockdev", "driver=qcow2,file=vmstate-file,node-name=vmstate"]
        for disk in self.disks:
            args += disk.args(spec.disk_iops)
        return args + spec.extra_args + self.extra_args

    def snapshot_identity(self, spec: QemuSpec) -> list[str]:
        """What a snapshot depends on: the guest's hardware and boot, not the host files behind disks."""
        forward = (0, self.data_forward[1]) if self.data_forward else None   # any free port on the host
        plain = QemuLaunch(self.kernel, self.initrd, self.cmdline, self.dtb, self.firmware, self.tftp_root,
                           forward, extra_args=self.extra_args)
        throttle = f":{spec.disk_iops}-iops" if spec.disk_iops else ""
        return plain.guest_args(spec) + [f"disk:{d.name}:{'log' if d.log else 'plain'}{throttle}" for d in self.disks]


class QemuMachine:
    def __init__(self, spec: QemuSpec, launch: QemuLaunch, board: str, run_dir: Path):
        self.spec, self.launch, self.board, self.run_dir = spec, launch, board, run_dir
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        _remove_stale_socket_dirs()
        self._sockdir = Path(tempfile.mkdtemp(prefix=f"sisctl-qmp-{os.getpid()}-"))
        self.qmp_path = self._sockdir / "qmp.sock"
        self._qmp: QEMUMonitorProtocol | None = None

    @property
    def console_url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def argv(self, paused: bool = False) -> list[str]:
        argv = [self.spec.binary, *self.launch.guest_args(self.spec),
                "-chardev", f"socket,id=console,host=127.0.0.1,port={self.port},server=on,wait=on",
                "-serial", "chardev:console",
                "-qmp", f"unix:{option_value(self.qmp_path)},server=on,wait=off"]
        return argv + (["-S"] if paused else [])

    def start(self, paused: bool = False) -> None:
        """Start QEMU; it then waits for the console to connect (and, if `paused`, for 'cont')."""
        for _ in range(5):   # another process may take the free port before QEMU binds it
            self.port = free_port()
            argv = self.argv(paused)
            (self.run_dir / "qemu.argv").write_text("\n".join(argv) + "\n")
            stderr_path = self.run_dir / "qemu.log"
            with open(stderr_path, "wb") as stderr:
                self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                                                start_new_session=True, preexec_fn=proc.die_with_parent)
            if self._wait_listening(stderr_path):
                return
            log = stderr_path.read_text(errors="replace")
            if "Address already in use" not in log:
                raise BoardError(self.board, f"QEMU failed to start: {log.strip()[-2000:]}")
        raise BoardError(self.board, "QEMU could not bind a console port after 5 tries")

    def _wait_listening(self, stderr_path: Path) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if "waiting for connection" in stderr_path.read_text(errors="replace"):
                return True
            if self.process.poll() is not None:
                return False
            time.sleep(0.02)
        self.stop()
        raise BoardUnreachable(self.board, f"QEMU did not open its console within {START_TIMEOUT_S:.0f} s")

    def exit_report(self) -> str | None:
        """QEMU's own last words if it has exited, else None."""
        if self.process is None or self.process.poll() is None:
            return None
        log = (self.run_dir / "qemu.log").read_text(errors="replace").strip().splitlines()
        return f"QEMU exited with code {self.process.returncode}: " + " | ".join(log[-3:])

    def check_io_error(self) -> None:
        """Raise if QEMU paused the guest on a failed host write (a full or read-only disk): the guest
        would otherwise wait silently until some timeout."""
        if not self.is_running() or self.qmp("query-status", timeout_s=WATCH_QMP_TIMEOUT_S).get("status") != "io-error":
            return
        failed = sorted({d["io-status"] for d in self.qmp("query-block") if d.get("io-status", "ok") != "ok"})
        disks = "; ".join(f"disk {d.name}: {d.image}" + (f", write log {d.log}" if d.log else "")
                          for d in self.launch.disks)
        what = ", ".join(failed) or "io-error"
        raise BoardError(self.board, f"QEMU stopped the guest: a host write failed ({what}); "
                         f"is a disk full or read-only? {disks or 'the snapshot file'}")

    def cpu_seconds(self) -> float | None:
        """CPU seconds QEMU's threads have run so far (their schedstat, in nanoseconds; a thread that
        ended is not counted); None when QEMU is not running."""
        if self.process is None or self.process.poll() is not None:
            return None
        total = 0
        for task in Path(f"/proc/{self.process.pid}/task").glob("*/schedstat"):
            try:
                total += int(task.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue   # the thread ended meanwhile
        return total / 1e9

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def qmp(self, command: str, timeout_s: float = QMP_TIMEOUT_S, **args) -> object:
        """One QMP command, answered within `timeout_s`: a stopped or hung QEMU (SIGSTOP, a host
        that froze it) is an error naming it, never a wait without end."""
        if self._qmp is None:
            self._qmp = self._connect_qmp()
        self._qmp.settimeout(timeout_s)
        try:
            return self._qmp.cmd(command, **args)
        except TimeoutError:
            raise BoardError(self.board, f"QEMU did not answer QMP {command} within {timeout_s:g} s: the "
                             "emulator is stopped or hung") from None
        except (QMPError, OSError) as err:
            raise BoardError(self.board, f"QMP {command} failed: {err}") from None

    def _connect_qmp(self) -> QEMUMonitorProtocol:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            client = QEMUMonitorProtocol(str(self.qmp_path))
            try:
                client.connect()
                return client
            except (QMPError, OSError) as err:
                client.close()
                if not self.is_running() or time.monotonic() >= deadline:
                    raise BoardUnreachable(self.board, f"QMP socket did not answer: {err}") from None
                time.sleep(0.05)

    def hmp(self, command: str) -> str:
        return str(self.qmp("human-monitor-command", **{"command-line": command}) or "")

    def save_snapshot(self, tag: str) -> None:
        """Save the running machine into the vmstate qcow2 (other disks are left out), replacing `tag`."""
        if tag in self.snapshot_tags():
            self._snapshot_job("snapshot-delete", tag=tag, devices=["vmstate"])
        self._snapshot_job("snapshot-save", tag=tag, vmstate="vmstate", devices=["vmstate"])

    def load_snapshot(self, tag: str) -> None:
        self._snapshot_job("snapshot-load", tag=tag, vmstate="vmstate", devices=["vmstate"])

    def snapshot_tags(self) -> set[str]:
        nodes = self.qmp("query-named-block-nodes")
        vmstate = next((n for n in nodes if n.get("node-name") == "vmstate"), {})
        return {s["name"] for s in vmstate.get("image", {}).get("snapshots", [])}

    def _snapshot_job(self, command: str, timeout_s: float = 60.0, **args) -> None:
        job = f"{command}-{args['tag']}"
        self.qmp(command, **{"job-id": job, **args})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = next((j for j in self.qmp("query-jobs") if j["id"] == job), None)
            if status and status["status"] == "concluded":
                self.qmp("job-dismiss", id=job)
                if status.get("error"):
                    raise BoardError(self.board, f"{command} {args['tag']}: {status['error']}")
                return
            time.sleep(0.01)
        raise BoardError(self.board, f"{command} {args['tag']} did not finish within {timeout_s:.0f} s")

    def kill(self) -> None:
        """End QEMU at once (SIGKILL), as a power cut ends a board."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        """Stop QEMU: ask through QMP, then terminate, then kill. Safe to call twice."""
        asked = False
        if self.is_running() and self._qmp is not None:
            try:
                self._qmp.settimeout(2)
                self._qmp.cmd("quit")
                asked = True
            except Exception:  # noqa: BLE001 - QEMU may close the socket mid-reply
                pass
        if self._qmp is not None:
            try:
                self._qmp.close()
            except Exception:  # noqa: BLE001 - the peer is gone already
                pass
            self._qmp = None
        if self.process is not None and self.process.poll() is None:
            try:
                self.process.wait(3 if asked else 0.01)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(3)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(5)
        shutil.rmtree(self._sockdir, ignore_errors=True)


def _remove_stale_socket_dirs() -> None:
    """QMP socket folders of sisctl processes that died without cleaning up (SIGKILL)."""
    for folder in Path(tempfile.gettempdir()).glob("sisctl-qmp-*-*"):
        pid = folder.name.split("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


def vmstate_problem(path: Path) -> str | None:
    """Why the snapshot qcow2 at `path` cannot be used (damaged metadata, marked corrupt), or None.
    Leaked clusters (exit 3) waste space only and do not count."""
    with open(path, "rb") as f:
        header = f.read(80)
    if header[:4] != b"QFI\xfb":
        return "not a qcow2 file"
    if int.from_bytes(header[4:8], "big") >= 3 and int.from_bytes(header[72:80], "big") & 2:
        return "QEMU marked it corrupt"   # qemu-img check passes such a file; QEMU will not open it
    try:
        done = subprocess.run(["qemu-img", "check", "-q", str(path)], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "qemu-img check did not finish within 60 s"
    if done.returncode in (0, 3):
        return None
    said = " ".join((done.stderr or done.stdout).split())
    return said[:160] or f"qemu-img check exited with {done.returncode}"


def create_vmstate(path: Path, size: str = "2G") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    proc.run(["qemu-img", "create", "-q", "-f", "qcow2", path, size], timeout=30)
