"""The ssh target's exec channels against a real OpenSSH server on loopback: exact output and
status, the host's timeout, and the first cause when SSH cannot be had."""
from __future__ import annotations

import dataclasses
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from sisctl.board.errors import BoardError, BootTimeout
from sisctl.errors import UsageError
from sisctl.board.target.ssh import Address, SshLink, SshTarget
from sisctl.net import free_port


class QuietConsole:
    """The serial console of a board whose kernel says nothing."""
    tail = []

    def check_crash(self):
        pass

    def tail_text(self):
        return ""


def ssh_link(sshd, tmp_path, port=None, known_hosts=None) -> SshLink:
    spec = SshTarget(host="127.0.0.1", port=port or sshd.port, user=sshd.user, key_file=sshd.key_file,
                     known_hosts=sshd.known_hosts, connect_timeout_s=2, agent=False)
    session = SimpleNamespace(name="own-os", console=QuietConsole(), run_dir=tmp_path,
                              board=SimpleNamespace(spec=SimpleNamespace(target=spec)))
    return SshLink(session, Address("127.0.0.1", spec.port, Path(known_hosts or sshd.known_hosts)))


def test_exec_gives_exact_output_status_and_enforces_the_timeout(sshd, tmp_path):
    link = ssh_link(sshd, tmp_path)
    link.wait_ready(10)
    try:
        result = link.run("echo out; echo err >&2; exit 7")
        assert (result.stdout, result.stderr, result.reason, result.code) == (b"out\n", b"err\n", "exit", 7)
        blob = link.run("head -c 3000000 /dev/zero | tr '\\0' 'x'; head -c 300000 /dev/zero >&2")
        assert (len(blob.stdout), len(blob.stderr)) == (3000000, 300000)   # both streams drained at once
        started = time.monotonic()
        slow = link.run("sleep 30", timeout_s=1)
        assert slow.reason == "timeout" and time.monotonic() - started < 5
        assert link.run("echo again").text == "again\n"
    finally:
        link.close()


def test_ssh_refused_ends_within_the_boot_timeout_naming_ssh(sshd, tmp_path):
    link = ssh_link(sshd, tmp_path, port=free_port())
    started = time.monotonic()
    with pytest.raises(BootTimeout, match=r"ssh root@127\.0\.0\.1:\d+ unreachable.*tried for 3 s"):
        link.wait_ready(3)
    assert time.monotonic() - started < 6


def test_an_unknown_host_key_is_refused_at_once(sshd, tmp_path):
    (tmp_path / "empty").write_text("")
    link = ssh_link(sshd, tmp_path, known_hosts=tmp_path / "empty")
    started = time.monotonic()
    with pytest.raises(BoardError, match="unknown host key"):
        link.wait_ready(30)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("key", ["missing", "garbage", "locked"])
def test_a_key_file_that_cannot_be_used_is_bad_input_at_once(sshd, tmp_path, key):
    path = tmp_path / key
    if key == "garbage":
        path.write_text("not a key\n")
    if key == "locked":
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "a passphrase", "-f", path], check=True)
    spec = dataclasses.replace(ssh_link(sshd, tmp_path).spec, key_file=str(path))
    link = ssh_link(sshd, tmp_path)
    link.spec = link.session.board.spec.target = spec
    started = time.monotonic()
    with pytest.raises(UsageError, match="key 'target.key_file'") as raised:
        link.wait_ready(30)
    assert time.monotonic() - started < 5 and raised.value.exit_code == 2
