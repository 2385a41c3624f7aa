from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from sisctl.board.board import Board
from sisctl.board.spec import find_board
from sisctl.build.builder import build
from sisctl.build.recipe import find_recipe
from sisctl.board.ssh import SshSpec
from sisctl.net import free_port

SSHD = "/usr/sbin/sshd"


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath) and not item.get_closest_marker("kbuild"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def debian_artifact():
    return build(find_recipe("debian-arm64"))


@pytest.fixture(scope="session")
def kbuild_artifact():
    return build(find_recipe("linux-kbuild"))   # minutes the first time, cached after


@pytest.fixture(scope="session")
def board(lab_dirs, debian_artifact) -> Board:
    """qemu-virt-0 with the Debian kernel flashed (one cold boot, then a ready snapshot)."""
    board = Board(find_board("qemu-virt-0"))
    board.flash(debian_artifact)
    return board


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture
def sshd(tmp_path):
    """A real sshd (with SFTP) on a free loopback port accepting one key; stopped after the test."""
    if not Path(SSHD).exists():
        pytest.skip("openssh-server is not installed")
    host_pub = keygen(tmp_path / "host_key")
    user_pub = keygen(tmp_path / "user_key")
    (tmp_path / "authorized_keys").write_text(user_pub + "\n")
    port = free_port()
    (tmp_path / "sshd_config").write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {tmp_path / 'host_key'}
AuthorizedKeysFile {tmp_path / 'authorized_keys'}
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
PidFile {tmp_path / 'sshd.pid'}
""")
    Path("/run/sshd").mkdir(exist_ok=True)
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(tmp_path / "sshd_config")],
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "sshd.log", "wb"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    key_type, key_data = host_pub.split()[:2]
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{port} {key_type} {key_data}\n")
    spec = SshSpec("127.0.0.1", user="root", port=port, key_file=str(tmp_path / "user_key"),
                   known_hosts=str(tmp_path / "known_hosts"), connect_timeout_s=10, retries=1)
    yield spec
    server.terminate()
    server.wait(10)


