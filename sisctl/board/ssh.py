"""Commands on a board or lab host over SSH: host keys checked against a known_hosts file, key
authentication, bounded timeouts, and errors that say which host and what went wrong."""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import paramiko

from sisctl.board.errors import BoardError, BoardUnreachable
from sisctl.config import Seconds, between
from sisctl.sshlink import SshRefused, SshUnreachable, open_checked, refuse_unknown_keys


@dataclass
class SshSpec:
    host: str
    user: str = "root"
    port: Annotated[int, between(1, 65535)] = 22
    key_file: str | None = None             # private key; never a password in YAML
    known_hosts: str = "~/.ssh/known_hosts"
    connect_timeout_s: Seconds = 10.0
    retries: Annotated[int, between(0, 20)] = 2


@dataclass(frozen=True)
class SshResult:
    code: int
    stdout: str
    stderr: str


class SshRunner:
    def __init__(self, spec: SshSpec, name: str):
        self.spec, self.name = spec, name
        self.where = f"ssh {spec.user}@{spec.host}:{spec.port}"
        self._client: paramiko.SSHClient | None = None

    def connect(self) -> None:
        """Connect, trying again `retries` times while the host cannot be reached."""
        known = Path(os.path.expanduser(self.spec.known_hosts))
        key = os.path.expanduser(self.spec.key_file) if self.spec.key_file else None
        timeout = self.spec.connect_timeout_s
        for attempt in range(self.spec.retries + 1):
            client = paramiko.SSHClient()
            refuse_unknown_keys(client, known)
            try:
                open_checked(lambda: client.connect(
                    self.spec.host, self.spec.port, username=self.spec.user, key_filename=key, timeout=timeout,
                    banner_timeout=timeout, auth_timeout=timeout, look_for_keys=False, allow_agent=False),
                    client.close, where=self.where, known_hosts=known, host=self.spec.host, port=self.spec.port)
                self._client = client
                return
            except SshRefused as err:
                raise BoardError(self.name, f"{err} (our key: {self.spec.key_file or 'none given'})") from None
            except SshUnreachable as err:
                problem = str(err).removeprefix(f"{self.where} unreachable: ")
            if attempt < self.spec.retries:
                time.sleep(0.5 * (attempt + 1))
        tries = self.spec.retries + 1
        raise BoardUnreachable(self.name, f"{self.where} unreachable after {tries} tr{'y' if tries == 1 else 'ies'} "
                               f"({timeout:g} s each): {problem}")

    def run(self, command: str, timeout_s: float = 60.0) -> SshResult:
        """Run a shell command string on the remote host. Quote what you put in it (shlex.quote)."""
        if self._client is None:
            self.connect()
        try:
            _, out, err = self._client.exec_command(command, timeout=timeout_s)
            stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
            return SshResult(out.channel.recv_exit_status(), stdout, stderr)
        except (socket.timeout, paramiko.SSHException, OSError) as err:
            raise BoardUnreachable(self.name, f"{self.where}: {command!r} did not finish: {err}") from None

    def must(self, command: str, what: str, timeout_s: float = 60.0) -> str:
        """Run `command`; its stdout, or an error naming `what`, the host, the status and stderr."""
        result = self.run(command, timeout_s)
        if result.code != 0:
            raise BoardError(self.name, f"{what} failed on {self.spec.host} ({result.code}): "
                             f"{result.stderr.strip()[-300:]}")
        return result.stdout

    def put(self, local: Path, remote: str) -> None:
        """Copy a file to the remote host over SFTP (no shell involved)."""
        if self._client is None:
            self.connect()
        try:
            with self._client.open_sftp() as sftp:
                sftp.get_channel().settimeout(self.spec.connect_timeout_s)   # a host that stops answering
                sftp.put(str(local), remote)
        except (OSError, paramiko.SSHException) as err:
            raise BoardError(self.name, f"{self.where}: copying {local.name} to {remote} failed: {err}") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> "SshRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
