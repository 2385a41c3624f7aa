"""Real-board faults report their first cause, fast: a refused SSH port fails within its connect
timeout naming SSH (and no power cycle follows for a Pi never rebooted), a dead power switch is
named, and a cleanup step that fails too is noted on the first error instead of replacing it."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sisctl import errors
from sisctl.board.board import Board
from sisctl.board.errors import BoardUnreachable, KernelCrash
from sisctl.board.power import PowerSwitchError
from sisctl.board.spec import load_board
from sisctl.image.guest import build_guest
from sisctl.net import free_port
from tests.integration.standins import SerialLine
from tests.integration.test_pi_tryboot import FakePi, board_yaml

INVOKE = str(Path(sys.executable).parent / "invoke")


@pytest.fixture
def fake_pi(tmp_path):
    fake = FakePi(tmp_path / "pi")
    yield fake
    fake.close()


def edit(path: Path, change) -> Path:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))
    return path


def cli_flash(path: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "SISCTL_STATE": str(tmp_path / "cli-state"), "SISCTL_REPORTS": str(tmp_path / "cli-reports")}
    started = time.monotonic()
    done = subprocess.run([INVOKE, "flash", "--board", str(path)], capture_output=True, text=True, env=env, timeout=300)
    return done, time.monotonic() - started


def test_refused_ssh_fails_within_the_connect_timeout_naming_ssh(sshd, fake_pi, tmp_path, debian_artifact):
    path = edit(board_yaml(tmp_path, sshd, fake_pi), lambda d: d["boot"]["pi"]["ssh"].update(port=free_port()))
    board = Board(load_board(path), state_root=tmp_path / "state", reports=tmp_path)
    connect_timeout = board.spec.boot.pi.ssh.connect_timeout_s
    initrd = build_guest(debian_artifact, [])      # built before the clock starts
    started = time.monotonic()
    with pytest.raises(BoardUnreachable, match=r"ssh root@127\.0\.0\.1:\d+ unreachable .*refused") as caught:
        with board.session(fast=False, artifact=debian_artifact, initrd=initrd, label="refused"):
            pass
    assert time.monotonic() - started < connect_timeout
    assert not getattr(caught.value, "__notes__", None), "nothing was started, so nothing to clean up"
    assert fake_pi.power_log == [], "a Pi that was never rebooted needs no power cycle"
    done, seconds = cli_flash(path, tmp_path)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == errors.INFRASTRUCTURE and "Traceback" not in done.stderr
    assert last.startswith("error: rpi4-test: ssh root@127.0.0.1:") and "refused" in last, done.stderr


def test_a_dead_power_switch_does_not_hide_the_kernel_panic(sshd, fake_pi, tmp_path, debian_artifact):
    dead = f"http://127.0.0.1:{free_port()}"
    path = edit(board_yaml(tmp_path, sshd, fake_pi), lambda d: d["power"].update(url=dead))
    board = Board(load_board(path), state_root=tmp_path / "state", reports=tmp_path)
    with pytest.raises(KernelCrash, match="Kernel panic") as caught:
        with board.session(fast=False, artifact=debian_artifact, label="dead-switch"):
            pass
    notes = caught.value.__notes__
    assert len(notes) == 1 and "bringing back the known-good OS" in notes[0] and dead in notes[0]


def uboot_board(tmp_path: Path, line: SerialLine, power_url: str) -> Path:
    path = tmp_path / "uboot-dead-switch.yaml"
    path.write_text(yaml.safe_dump({
        "name": "uboot-dead-switch", "console": {"url": line.paths[0]},
        "power": {"model": "http", "on_url": f"{power_url}/on", "off_url": f"{power_url}/off", "timeout_s": 2},
        "boot": {"method": "uboot", "uboot": {"transfer": "ymodem"}, "modules": []}}))
    return path


def test_a_dead_power_switch_is_named_at_power_on(tmp_path, debian_artifact):
    initrd = build_guest(debian_artifact, [])      # built before the clock starts
    line = SerialLine()
    try:
        dead = f"http://127.0.0.1:{free_port()}"
        path = uboot_board(tmp_path, line, dead)
        board = Board(load_board(path), state_root=tmp_path / "state", reports=tmp_path)
        started = time.monotonic()
        with pytest.raises(PowerSwitchError, match=f"power switch {dead}/off did not answer within 2 s: connection refused") as caught:
            with board.session(fast=False, artifact=debian_artifact, initrd=initrd, label="dead-switch"):
                pass
        assert time.monotonic() - started < 3 * board.spec.power.timeout_s
        assert any("switching the board off" in n for n in caught.value.__notes__)
        done, _ = cli_flash(path, tmp_path)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == errors.INFRASTRUCTURE and "Traceback" not in done.stderr
        assert lines[-1].startswith(f"error: power switch {dead}/off did not answer within 2 s: connection "
                                    "refused"), done.stderr
    finally:
        line.close()
