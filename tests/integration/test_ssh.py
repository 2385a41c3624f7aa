"""SSH to a real OpenSSH server on loopback: host keys checked, clear errors, hwmon read remotely."""
from __future__ import annotations

import shlex
import time
from pathlib import Path

import pytest

from sisctl.net import free_port
from sisctl.board.errors import BoardError, BoardUnreachable
from sisctl.telemetry.power import PowerMeterSpec
from sisctl.board.ssh import SshRunner, SshSpec
from sisctl.telemetry.power import read_power
from tests.integration.conftest import keygen



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
