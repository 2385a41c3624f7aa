"""target.kind ssh: a board's own OS over SSH. The host key is checked against a known_hosts file
(an unknown or changed key is refused, never added), the key file authenticates, and each command
runs in an exec channel, so its stdout, stderr and exit status come back exactly. The serial
console stays open for the kernel's messages and error reports.

    target:
      kind: ssh
      host: qemu              # 'qemu': the QEMU board's port 22, forwarded to a free loopback port
      user: root
      key_file: ~/.ssh/lab_ed25519        # the stand-in's default: a key sisctl makes for the board
      known_hosts: ~/.ssh/known_hosts     # for a QEMU stand-in sisctl writes its own key's line
      connect_timeout_s: 10
      agent: true             # sisctl's agent, uploaded and served over SSH (false: exec channels)
      image: standin          # a QEMU board: the initramfs booted ('standin' or a path)

With `agent` (the default) sisctl copies its static agent to the board (`agent_dir`, once per agent
build) and speaks the agent's protocol over an SSH channel instead of the serial line, so campaigns
and benchmarks that need the agent run on the board's own OS as on sisctl's initramfs. Without it
each command runs in an exec channel; the host enforces its timeout by closing the channel and
reports it as timed out (what the remote side does with the hang-up is up to it).
"""
from __future__ import annotations

import io
import os
import select
import shlex
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import paramiko

from sisctl import config, net, paths
from sisctl.board.agent import Agent, CommandResult, check_timeout
from sisctl.board.console import Console
from sisctl.board.errors import BoardError, BoardUnreachable, BootTimeout
from sisctl.board.target import TargetSettings
from sisctl.board.target.osimage import (STANDIN, client_key, guest_image as _os_image, host_key, is_qemu,
                                         require_image)
from sisctl.config import Seconds, between
from sisctl.errors import UsageError
from sisctl.image.guest import agent_digest, build_agent
from sisctl.sshlink import SshRefused, SshUnreachable, open_checked, refuse_unknown_keys

if TYPE_CHECKING:
    from sisctl.board.board import BoardSession

SNAPSHOTS = False


def has_agent(spec) -> bool:
    return spec.target.agent

QEMU_HOST = "qemu"
RETRY_S = 0.5


@dataclass(kw_only=True)
class SshTarget(TargetSettings):
    """kind ssh: commands over SSH to the board's own OS."""
    host: str = QEMU_HOST
    user: str = "root"
    port: Annotated[int, between(1, 65535)] = 22
    key_file: str = ""
    known_hosts: str = "~/.ssh/known_hosts"
    connect_timeout_s: Seconds = 10.0
    agent: bool = True
    agent_dir: str = "/tmp"
    image: str = ""


def check(spec, path) -> None:
    target: SshTarget = spec.target
    if not target.key_file and target.image != STANDIN:
        raise config.ConfigError(path, "target.key_file", "the SSH target authenticates with a key file "
                                 "(passwords are not taken)")
    if target.host == QEMU_HOST and not is_qemu(spec):
        raise config.ConfigError(path, "target.host", "'qemu' (a forwarded port) is for QEMU boards; give the "
                                 "board's address")
    if target.host != QEMU_HOST and is_qemu(spec):
        raise config.ConfigError(path, "target.host", "a QEMU board is reached as 'qemu' (its port 22 forwarded "
                                 "to a loopback port)")
    require_image(spec, path)


def guest_image(board, artifact):
    return _os_image(board, artifact)


@dataclass(frozen=True)
class Address:
    host: str
    port: int
    known_hosts: Path


def prepare(session: BoardSession) -> Address:
    """A QEMU board gets a user network whose guest port 22 is forwarded to a free loopback port."""
    target: SshTarget = session.board.spec.target
    if target.host != QEMU_HOST:
        return Address(target.host, target.port, Path(os.path.expanduser(target.known_hosts)))
    port = net.free_port()
    session.qemu_args += ["-netdev", f"user,id=sisssh,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22",
                          "-device", "virtio-net-pci,netdev=sisssh"]
    known = Path(os.path.expanduser(target.known_hosts))
    if target.image == STANDIN:   # its host key is sisctl's own: the line for this port is written, not learnt
        known = session.board.state / "standin-known-hosts"
        public = Path(f"{host_key(session.board)}.pub").read_text().split()
        known.write_text(f"[127.0.0.1]:{port} {public[0]} {public[1]}\n")
    return Address("127.0.0.1", port, known)


class SshLink:
    def __init__(self, session: BoardSession, address: Address):
        self.session, self.board, self.address = session, session.name, address
        self.spec: SshTarget = session.board.spec.target
        self.console = session.console
        self.where = f"ssh {self.spec.user}@{address.host}:{address.port}"
        self._client: paramiko.SSHClient | None = None
        self._pkey: paramiko.PKey | None = None
        self.agent: Agent | None = None
        self._agent_console: Console | None = None

    def wait_ready(self, timeout_s: float) -> None:
        """Connect, trying again while the board boots, until `timeout_s`; a refusal ends it at once."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._connect(min(self.spec.connect_timeout_s, max(1.0, deadline - time.monotonic())))
                break
            except SshRefused as err:
                raise BoardError(self.board, str(err), self.console.tail_text()) from None
            except SshUnreachable as err:
                if time.monotonic() + RETRY_S >= deadline:
                    raise BootTimeout(self.board, f"{err} (tried for {timeout_s:g} s)", self.console.tail_text()) from None
            self.console.check_crash()
            time.sleep(RETRY_S)
        if self.spec.agent:
            self._serve_agent(max(5.0, deadline - time.monotonic()))

    def _serve_agent(self, timeout_s: float) -> None:
        """Copy the agent over (once per build) and serve it on a channel of its own."""
        folder = shlex.quote(f"{self.spec.agent_dir.rstrip('/')}/sisctl-{agent_digest()}")
        if self._exec(f"test -x {folder}/sisagent", 30).code != 0:
            binary = build_agent(paths.cache_dir()).read_bytes()
            copied = self._exec(f"mkdir -p {folder} && cat > {folder}/.sisagent && chmod 755 {folder}/.sisagent && "
                                f"mv {folder}/.sisagent {folder}/sisagent", 120, stdin=binary)
            if not copied.ok:
                raise BoardError(self.board, f"{self.where}: copying the agent to {folder} failed ({copied.code}): "
                                 f"{copied.stderr.decode(errors='replace').strip()[-300:]}")
        channel = self._transport().open_session(timeout=self.spec.connect_timeout_s)
        # on PATH for commands that call its tools (`sisagent bench ...`), as in sisctl's initramfs
        channel.exec_command(f'PATH={folder}:"$PATH" SISAGENT_ONCE=1 exec {folder}/sisagent')
        console = Console(ChannelPort(channel), self.session.run_dir / "agent-ssh.log", self.board)
        console.watch = self.console.check_crash     # the kernel's reports come on the serial console
        self.agent = self.session.agent = Agent(console, self.board)
        self._agent_console = console
        self.agent.wait_ready(timeout_s)

    def _connect(self, timeout_s: float) -> None:
        key = self._key()
        client = paramiko.SSHClient()
        refuse_unknown_keys(client, self.address.known_hosts)
        open_checked(lambda: client.connect(
            self.address.host, self.address.port, username=self.spec.user, pkey=key, timeout=timeout_s,
            banner_timeout=timeout_s, auth_timeout=timeout_s, look_for_keys=False, allow_agent=False),
            client.close, where=self.where, known_hosts=self.address.known_hosts, host=self.address.host,
            port=self.address.port)
        self._client = client

    def _key(self) -> paramiko.PKey:
        """The client key, read once: a missing, unreadable or locked key file is the board file's
        fault (exit 2), found at once, not retried as if the board were still booting."""
        if self._pkey is None:
            path = client_key(self.session.board)
            try:
                self._pkey = paramiko.PKey.from_path(path)
            except (paramiko.PasswordRequiredException, TypeError):   # TypeError: cryptography, for OpenSSH keys
                raise UsageError(f"{self.board}: key 'target.key_file': {path} is locked by a passphrase; "
                                 "sisctl takes a key without one") from None
            except (OSError, paramiko.SSHException, ValueError) as err:
                raise UsageError(f"{self.board}: key 'target.key_file': {path} cannot be used as an SSH key "
                                 f"({getattr(err, 'strerror', None) or err})") from None
        return self._pkey

    def after_boot(self) -> None:
        pass

    def run(self, command: str, timeout_s: float = 60.0) -> CommandResult:
        if self.agent is not None:
            return self.agent.run(command, timeout_s)
        return self._exec(command, timeout_s)

    def _transport(self) -> paramiko.Transport:
        transport = self._client.get_transport() if self._client else None
        if transport is None or not transport.is_active():
            raise BoardUnreachable(self.board, f"{self.where}: the SSH connection is gone", self.console.tail_text())
        return transport

    def _exec(self, command: str, timeout_s: float, stdin: bytes = b"") -> CommandResult:
        """`command` in an exec channel, fed `stdin`; its output and status."""
        check_timeout(timeout_s)
        started = time.monotonic()
        deadline = started + timeout_s
        try:
            channel = self._transport().open_session(timeout=self.spec.connect_timeout_s)
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            out, err = bytearray(), bytearray()
            while not self._drained(channel):
                if time.monotonic() >= deadline:
                    channel.close()
                    return CommandResult(command, bytes(out), bytes(err), "timeout", -1, time.monotonic() - started)
                select.select([channel], [], [], min(0.1, max(0.0, deadline - time.monotonic())))
                if channel.recv_ready():
                    out += channel.recv(1 << 16)
                if channel.recv_stderr_ready():
                    err += channel.recv_stderr(1 << 16)
                self.console.check_crash()
            code = channel.recv_exit_status()
            channel.close()
        except (socket.timeout, paramiko.SSHException, OSError) as error:
            raise BoardUnreachable(self.board, f"{self.where}: the connection failed while running a command: "
                                   f"{error or type(error).__name__}", self.console.tail_text()) from None
        reason = "signal" if code == -1 else "exit"
        return CommandResult(command, bytes(out), bytes(err), reason, code, time.monotonic() - started)

    @staticmethod
    def _drained(channel: paramiko.Channel) -> bool:
        """The command ended and both its streams were read to their end: the server may send the
        exit status while output it still holds (stderr above all) is on its way."""
        ended = channel.exit_status_ready() and (channel.eof_received or channel.closed)
        return ended and not channel.recv_ready() and not channel.recv_stderr_ready()

    def close(self) -> None:
        if self._agent_console is not None:
            self._agent_console.close()
            self._agent_console = self.agent = None
        if self._client is not None:
            self._client.close()
            self._client = None


class ChannelPort:
    """An SSH channel as the port a Console reads: no descriptor (the console polls it), reads that
    give up after 0.1 s, closed once the far end closes."""

    def __init__(self, channel: paramiko.Channel):
        self.channel = channel
        channel.settimeout(0.1)

    @property
    def is_open(self) -> bool:
        return not self.channel.closed and not self.channel.eof_received

    def fileno(self) -> int:
        raise io.UnsupportedOperation("an SSH channel is polled")

    def read(self, size: int) -> bytes:
        try:
            return self.channel.recv(size)
        except socket.timeout:
            return b""

    def write(self, data: bytes) -> None:
        self.channel.sendall(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.channel.close()


def attach(session: BoardSession, prepared: Address) -> SshLink:
    return SshLink(session, prepared)
