"""Boards attached to another lab host: the controller runs sisctl there over SSH (fabric).

A board whose `lab.host` is one of lab/lab.yaml's `hosts:` (and not the host this sisctl runs
on, SISCTL_LAB_HOST) is driven remotely: `flash` and `run` stream the remote output and end with
the remote exit code; `console` runs on a terminal there with our keys passed on; a campaign's
records.jsonl is tailed back over SFTP into a campaign folder of the controller as it is written,
then summary.json, junit.xml and the page are fetched (a smoke job's report the same way, with its
console log).

Host keys are checked against the host's known_hosts file (unknown or changed keys are refused,
never added); every word sent to the remote shell is quoted. A host that cannot be reached, a
refused key, a lost connection or a missing sisctl there is exit 75 naming the host. The remote
command is stopped (SIGINT, so it stops its QEMU) when the controller is interrupted (Ctrl-C, or
SIGTERM as a cancelled CI job gets); on a console, Ctrl-C is a key for the guest instead.
"""
from __future__ import annotations

import html
import json
import os
import posixpath
import select
import shlex
import shutil
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import BinaryIO, Callable

import paramiko
from fabric import Config, Connection

from sisctl import config, paths
from sisctl.proc import interrupted
from sisctl.report.index import write_index
from sisctl.sshlink import SshRefused, SshUnreachable, open_checked, refuse_unknown_keys
from sisctl.terminal import DETACH, raw_terminal
from sisctl.errors import InfrastructureError
from sisctl.fleet.holder import this_process
from sisctl.labfile import LabHostSpec, load_lab

THIS_HOST_VARIABLE = "SISCTL_LAB_HOST"       # set for the remote sisctl: its boards are its own
PASSED_ON = ("SISCTL_WAIT", "SISCTL_PRIORITY")   # the controller's own settings, for the remote holds
STOP_GRACE_S = 60.0                          # an interrupted remote command's time to stop its board


class LabHostError(InfrastructureError):
    """A lab host could not be reached, refused us, or lost the connection."""


@dataclass
class Host:
    name: str
    spec: LabHostSpec

    @property
    def where(self) -> str:
        return f"lab host {self.name} ({self.spec.user}@{self.spec.address}:{self.spec.port})"

    @property
    def reports(self) -> str:
        """Where the remote sisctl files its reports."""
        return posixpath.join(self.spec.checkout, self.spec.env.get("SISCTL_REPORTS", "reports"))

    def board_ref(self, board: str) -> str:
        """How the remote sisctl names the board (given by name or by the controller's file of it):
        its file in the host's board folder, else its name."""
        name = PurePath(board).stem if board.endswith(".yaml") else board
        return posixpath.join(self.spec.boards, f"{name}.yaml") if self.spec.boards else name


def lab_host_of(board) -> Host | None:
    """The lab host a board (a BoardSpec) is driven through, or None when it is attached here."""
    name = board.lab.host if board.lab else ""
    if not name or name == os.environ.get(THIS_HOST_VARIABLE):
        return None
    spec = load_lab().hosts.get(name)
    return Host(name, spec) if spec else None


@dataclass
class _Secret:
    key_file: str | None = None
    password: str | None = None


def _credentials(host: Host) -> dict:
    """paramiko's key and password arguments, from the environment or the secret file only."""
    spec, secret = host.spec, _Secret()
    if spec.secret_file:
        secret = config.load(_Secret, Path(os.path.expanduser(spec.secret_file)))
    key = os.environ.get(spec.key_env) if spec.key_env else None
    key = key or secret.key_file
    password = (os.environ.get(spec.password_env) if spec.password_env else None) or secret.password
    if key and not Path(os.path.expanduser(key)).is_file():
        raise LabHostError(f"{host.where}: private key {key} (from {spec.key_env or spec.secret_file}) "
                           "is not a file")
    found = {"key_filename": os.path.expanduser(key)} if key else {}
    if password:
        found.update(password=password, passphrase=password)
    return found


def connect(host: Host) -> Connection:
    """An open connection whose host key matched the known_hosts file."""
    spec = host.spec
    known = Path(os.path.expanduser(spec.known_hosts))
    if not known.is_file():
        raise LabHostError(f"{host.where}: known_hosts file {known} is missing; add the host's key to it "
                           f"(ssh-keyscan -p {spec.port} {spec.address}, then check it)")
    timeout = spec.connect_timeout_s
    conn = Connection(spec.address, user=spec.user, port=spec.port,
                      config=Config(ssh_config=paramiko.SSHConfig()),     # lab.yaml is the whole truth
                      connect_kwargs={**_credentials(host), "look_for_keys": False, "allow_agent": False,
                                      "timeout": timeout, "banner_timeout": timeout, "auth_timeout": timeout})
    refuse_unknown_keys(conn.client, known)
    try:
        open_checked(conn.open, conn.close, where=host.where, known_hosts=known, host=spec.address, port=spec.port)
    except SshRefused as err:
        raise LabHostError(str(err)) from None
    except SshUnreachable as err:
        raise LabHostError(f"{err} (connect timeout {timeout:g} s)") from None
    return conn


def remote_command(host: Host, argv: list[str], env: dict[str, str] | None = None, first: str = "") -> str:
    """The shell line for the remote sisctl: every word quoted. It prints its pid first, then
    becomes sisctl (exec), so the controller can interrupt it."""
    job = this_process().job
    variables = {**{k: os.environ[k] for k in PASSED_ON if os.environ.get(k)}, **host.spec.env,
                 **({"SISCTL_JOB_ID": job} if job else {}), **(env or {}), THIS_HOST_VARIABLE: host.name}
    words = ["env", *(f"{k}={v}" for k, v in variables.items()), *host.spec.command, *argv]
    return (f"{first + ' && ' if first else ''}cd {shlex.quote(host.spec.checkout)} || exit 127; "
            f"echo $$; exec {shlex.join(words)}")


def run_remote(host: Host, argv: list[str], stream_to: tuple[BinaryIO, BinaryIO] | None = None,
               env: dict[str, str] | None = None, first: str = "",
               while_running: Callable[[Connection], None] | None = None, poll_s: float = 0.5,
               interactive: bool = False) -> int:
    """Run sisctl `argv` on `host`, its stdout and stderr streamed to `stream_to` (default: ours) as
    they come; returns its exit code. `while_running(connection)` is called every `poll_s`.
    `interactive`: on a terminal there, with our stdin (raw, when it is a terminal) passed on."""
    out, err = stream_to or (sys.stdout.buffer, sys.stderr.buffer)
    conn = connect(host)
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, interrupted) if on_main else None   # a cancelled CI job too
    try:
        channel = conn.create_session()
        if interactive:
            columns, lines = shutil.get_terminal_size()
            channel.get_pty(term=os.environ.get("TERM", "vt100"), width=columns, height=lines)
        channel.exec_command(remote_command(host, argv, env, first))
        remote = _Remote(host, conn, channel, out, err)
        if not interactive:
            return remote.follow(while_running, poll_s)
        with raw_terminal(sys.stdin.fileno()):
            return remote.follow(while_running, poll_s, stdin=sys.stdin.fileno())
    except (paramiko.SSHException, OSError) as error:
        raise LabHostError(f"{host.where}: connection lost: {error or type(error).__name__}") from None
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, previous)
        conn.close()


class _Remote:
    """One remote command: its pid (the first line), its output, its end."""

    def __init__(self, host: Host, conn: Connection, channel: paramiko.Channel, out: BinaryIO, err: BinaryIO):
        self.host, self.conn, self.channel, self.out, self.err = host, conn, channel, out, err
        self.pid: int | None = None
        self._head = b""
        self._input_ended: float | None = None     # when our stdin ended (and Ctrl-] was last sent)

    def follow(self, while_running, poll_s: float, stdin: int | None = None) -> int:
        next_poll = 0.0
        try:
            while not self._ended():
                typing = stdin if self.pid is not None else None   # typed ahead: after the pid line
                self._pump(min(poll_s, 0.2), typing)
                if typing is not None or self._input_ended is not None:
                    stdin = self._pass_on(stdin)
                if while_running and time.monotonic() >= next_poll:
                    while_running(self.conn)
                    next_poll = time.monotonic() + poll_s
        except KeyboardInterrupt:
            self._stop()
            raise
        code = self.channel.recv_exit_status()
        if code == -1:
            raise LabHostError(f"{self.host.where}: the connection ended without the command's exit status")
        if code in (126, 127):
            raise LabHostError(f"{self.host.where}: cannot run sisctl there ({' '.join(self.host.spec.command)} "
                               f"in {self.host.spec.checkout}: exit {code})")
        return code

    def _ended(self) -> bool:
        c = self.channel
        if not c.get_transport() or not c.get_transport().is_active():
            if not c.exit_status_ready():
                raise LabHostError(f"{self.host.where}: connection lost while the command ran")
        return c.exit_status_ready() and c.eof_received and not c.recv_ready() and not c.recv_stderr_ready()

    def _pump(self, wait_s: float, stdin: int | None = None) -> None:
        select.select([self.channel, *([stdin] if stdin is not None else [])], [], [], wait_s)
        while self.channel.recv_ready():
            self._stdout(self.channel.recv(1 << 16))
        while self.channel.recv_stderr_ready():
            self.err.write(self.channel.recv_stderr(1 << 16))
            self.err.flush()

    def _pass_on(self, stdin: int) -> int | None:
        """Typed bytes go to the remote terminal. At the end of our input the remote console is
        detached: Ctrl-] is sent, and again each second, since one sent while the remote console
        was still starting is dropped when it takes the terminal. Returns the stdin still read."""
        if self.channel.closed or self.channel.exit_status_ready():
            return None
        try:
            if self._input_ended is not None:
                if time.monotonic() - self._input_ended >= 1.0:
                    self.channel.sendall(DETACH)
                    self._input_ended = time.monotonic()
                return None
            if not select.select([stdin], [], [], 0)[0]:
                return stdin
            data = os.read(stdin, 1024)
            self.channel.sendall(data or DETACH)
        except OSError:           # the remote end closed meanwhile: its exit status tells the rest
            return None
        if not data:
            self._input_ended = time.monotonic()
            return None
        return stdin

    def _stdout(self, data: bytes) -> None:
        if self.pid is None:                 # the first line is the remote shell's pid
            self._head += data
            if b"\n" not in self._head:
                return
            line, _, data = self._head.partition(b"\n")
            self.pid = int(line) if line.strip().isdigit() else 0
        if data:
            self.out.write(data)
            self.out.flush()

    def _stop(self) -> None:
        """Interrupt the remote sisctl as Ctrl-C would, and let it stop its board."""
        if not self.pid:
            return
        try:
            self.conn.create_session().exec_command(f"kill -INT {self.pid}")
            deadline = time.monotonic() + STOP_GRACE_S
            while not self._ended() and time.monotonic() < deadline:
                self._pump(0.2)
        except (paramiko.SSHException, OSError, LabHostError):
            pass


# --- campaigns and other jobs that write one report folder ---------------------------------------

FETCHED_AT_END = ("summary.json", "junit.xml", "index.html", "report.md")


@dataclass
class RemoteCampaign:
    code: int                        # the remote job's exit code
    folder: Path | None              # the controller's copy (None if the remote never started one)
    summary: dict | None
    records: int = 0                 # records copied back
    records_while_running: int = 0   # of those, copied while the remote campaign still ran


def remote_campaign(host: Host, argv: list[str], local_out: Path | None = None,
                    progress: BinaryIO | None = None, marker: str = "campaign.json") -> RemoteCampaign:
    """Run the campaign `argv` (['campaign', '--kind', ..., '--board', NAME, ...]) on `host`; its
    records arrive in `local_out` (default: a folder of the remote campaign's name in our reports)
    as they are written. The remote output goes to `progress` (default: our stderr). Another job
    that writes one report folder (smoke) runs the same way: `marker` is the first file it writes there."""
    job = posixpath.join(host.reports, f"from-{socket.gethostname()}-{os.getpid()}-{time.strftime('%Y%m%d-%H%M%S')}")
    tail = _CampaignTail(host, job, local_out, marker)
    stream = progress or sys.stderr.buffer
    code = run_remote(host, _on_host(host, argv), stream_to=(stream, stream), env={"SISCTL_REPORTS": job},
                      first=f"mkdir -p {shlex.quote(job)}", while_running=tail.poll)
    return tail.finish(code)


def _on_host(host: Host, argv: list[str]) -> list[str]:
    """`argv` with the board named as the remote sisctl knows it."""
    words = list(argv)
    for i, word in enumerate(words):
        if word == "--board" and i + 1 < len(words):
            words[i + 1] = host.board_ref(words[i + 1])
        elif word.startswith("--board="):
            words[i] = "--board=" + host.board_ref(word.split("=", 1)[1])
    return words


class _CampaignTail:
    """Copies a remote campaign folder's records.jsonl, line by whole line, as it grows."""

    def __init__(self, host: Host, job: str, local_out: Path | None, marker: str = "campaign.json"):
        self.host, self.job, self.local, self.marker = host, job, local_out, marker
        self.remote: str | None = None       # the remote campaign folder, once it exists
        self.offset = self.copied = self.while_running = 0
        self.running = True

    def poll(self, conn: Connection) -> None:
        sftp = conn.sftp()
        if self.remote is None and not self._found(sftp):
            return
        try:
            size = sftp.stat(f"{self.remote}/records.jsonl").st_size
        except FileNotFoundError:
            return
        if size <= self.offset:
            return
        with sftp.open(f"{self.remote}/records.jsonl", "rb") as remote:
            remote.seek(self.offset)
            data = remote.read(size - self.offset)
        whole = data[:data.rfind(b"\n") + 1]         # a line being written waits for the next poll
        if whole:
            with open(self.local / "records.jsonl", "ab") as out:
                out.write(whole)
                out.flush()
                os.fsync(out.fileno())
            self.offset += len(whole)
            lines = whole.count(b"\n")
            self.copied += lines
            self.while_running += lines if self.running else 0

    def _found(self, sftp: paramiko.SFTPClient) -> bool:
        """The campaign folder the remote sisctl made under our job folder, copied here once seen."""
        try:
            names = sorted(sftp.listdir(self.job))
        except FileNotFoundError:
            return False
        for name in names:
            try:
                sftp.stat(f"{self.job}/{name}/{self.marker}")
            except FileNotFoundError:
                continue
            self.remote = f"{self.job}/{name}"
            self.local = self.local or paths.unique_dir(paths.reports_dir(), name)
            self.local.mkdir(parents=True, exist_ok=True)
            sftp.get(f"{self.remote}/{self.marker}", str(self.local / self.marker))
            return True
        return False

    def finish(self, code: int) -> RemoteCampaign:
        """After the remote end: the last records, then the summary, JUnit and the page."""
        self.running = False
        conn = connect(self.host)                    # the command's connection has closed
        try:
            self.poll(conn)
            if self.remote is None:
                return RemoteCampaign(code, None, None)
            sftp = conn.sftp()
            for name in FETCHED_AT_END:
                _fetch_if_there(sftp, f"{self.remote}/{name}", self.local / name)
            console = self._console_log(sftp)
        except (paramiko.SSHException, OSError) as error:
            raise LabHostError(f"{self.host.where}: fetching {self.remote or self.job} failed: {error}") from None
        finally:
            conn.close()
        summary = None
        if (self.local / "summary.json").exists():
            summary = json.loads((self.local / "summary.json").read_text())
            summary.update(report=str(self.local), remote={"host": self.host.name, "report": self.remote,
                                                           **({"console_log": console} if console else {})})
            if console:
                summary["console_log"] = str(self.local / "console.log")
            paths.write_atomic(self.local / "summary.json", json.dumps(summary, indent=1) + "\n")
        write_index(self.local.parent)
        return RemoteCampaign(code, self.local, summary, self.copied, self.while_running)

    def _console_log(self, sftp: paramiko.SFTPClient) -> str | None:
        """The console log a job's summary names (smoke), copied beside it; its remote path."""
        try:
            remote = json.loads((self.local / "summary.json").read_text())["console_log"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not (isinstance(remote, str) and _fetch_if_there(sftp, remote, self.local / "console.log")):
            return None
        page = self.local / "index.html"      # its link pointed at the log's place on that host
        if page.exists():
            there = html.escape(posixpath.relpath(remote, self.remote), quote=True)
            page.write_text(page.read_text().replace(f'href="{there}"', 'href="console.log"'))
        return remote


def _fetch_if_there(sftp: paramiko.SFTPClient, remote: str, local: Path) -> bool:
    """Copy `remote` to `local` if it exists (no empty file is left if it does not)."""
    try:
        sftp.get(remote, str(local))
        return True
    except FileNotFoundError:
        local.unlink(missing_ok=True)
        return False
