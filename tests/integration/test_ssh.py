"""SSH to a real OpenSSH server on loopback: host keys checked, clear errors, hwmon read remotely."""
from __future__ import annotations

import shlex
import socket
import subprocess
import time
from pathlib import Path

import pytest

from sisctl.net import free_port
from sisctl.board.errors import BoardError, BoardUnreachable
from sisctl.board.spec import PowerMeterSpec
from sisctl.board.ssh import SshRunner, SshSpec
from sisctl.telemetry.power import read_power

SSHD = "/usr/sbin/sshd"
pytestmark = pytest.mark.skipif(not Path(SSHD).exists(), reason="openssh-server is not installed")


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture
def sshd(tmp_path):
    """A real sshd on a free loopback port accepting one key; stopped after the test."""
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
                   known_hosts=str(tmp_path / "known_hosts"), connect_timeout_s=3, retries=0)
    yield spec
    server.terminate()
    server.wait(10)


def test_commands_run_with_exit_status_and_quoting(sshd):
    with SshRunner(sshd, "lab-host") as ssh:
        tricky = "a b; echo pwned $HOME 'q'"
        result = ssh.run(f"printf '%s' {shlex.quote(tricky)}; exit 3")
    assert (result.code, result.stdout) == (3, tricky)


def test_unknown_host_key_is_refused(sshd, tmp_path):
    sshd.known_hosts = str(tmp_path / "empty_known_hosts")
    with pytest.raises(BoardError, match="unknown host key"):
        SshRunner(sshd, "lab-host").connect()


def test_changed_host_key_is_refused(sshd, tmp_path):
    impostor = keygen(tmp_path / "impostor").split()
    Path(sshd.known_hosts).write_text(f"[127.0.0.1]:{sshd.port} {impostor[0]} {impostor[1]}\n")
    with pytest.raises(BoardError, match="host key does not match"):
        SshRunner(sshd, "lab-host").connect()


def test_wrong_key_fails_authentication(sshd, tmp_path):
    keygen(tmp_path / "stranger")
    sshd.key_file = str(tmp_path / "stranger")
    with pytest.raises(BoardError, match="authentication failed"):
        SshRunner(sshd, "lab-host").connect()


def test_unreachable_host_fails_within_its_timeout():
    spec = SshSpec("127.0.0.1", port=free_port(), connect_timeout_s=1, retries=1)
    started = time.monotonic()
    with pytest.raises(BoardUnreachable, match=f"127.0.0.1:{spec.port} unreachable after 2 tries"):
        SshRunner(spec, "rpi4-01").connect()
    assert time.monotonic() - started < 5


def test_hwmon_power_sensor_read_over_ssh(sshd, tmp_path):
    sensor = tmp_path / "hwmon0" / "power1_input"
    sensor.parent.mkdir()
    sensor.write_text("4200000\n")
    with SshRunner(sshd, "lab-host") as ssh:
        reading = read_power(PowerMeterSpec(model="hwmon", hwmon_path=str(sensor)),
                             run=lambda command: ssh.run(command).stdout)
    assert (reading.watts, reading.source, reading.estimated) == (4.2, "hwmon", False)
