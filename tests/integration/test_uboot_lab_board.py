"""A U-Boot board wired as a lab wires one, every part real except the board itself: ser2net
serves its console over RFC 2217, an HTTP PDU (basic auth) switches it, and its TFTP files are
staged on the lab host over SFTP. The "board" is QEMU running Debian's U-Boot, started by the
PDU's outlet and attached to a serial line (a pty pair that outlives power cycles, as a
USB-serial adapter outlives the board it is plugged into)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from sisctl.board.board import Board
from sisctl.board.errors import BoardError
from sisctl.board.power import PowerSwitchError
from sisctl.jobs.smoke import run_smoke
from tests.integration.standins import SER2NET, UBOOT, uboot_lab_board

pytestmark = pytest.mark.skipif(not (UBOOT.exists() and Path(SER2NET).exists()),
                                reason="u-boot-qemu and ser2net are needed")


@pytest.fixture
def lab_board(tmp_path, sshd, monkeypatch):
    """boards/uboot-lab.yaml for a board behind ser2net, an HTTP PDU and a TFTP lab host."""
    with uboot_lab_board(tmp_path, sshd, monkeypatch) as wired:
        yield wired


def test_smoke_job_on_a_uboot_board_behind_ser2net_pdu_and_tftp_host(lab_board, lab_dirs, debian_artifact):
    board, pdu, tftp_root = lab_board
    summary = run_smoke(board.spec.source, progress=lambda _: None, reports=lab_dirs["reports"])
    assert summary["failed"] == 0 and summary["passed"] == 7, summary["checks"]
    # A real board has no snapshot: the smoke session, too, came up through U-Boot.
    assert "loader boot to ready" in [check["name"] for check in summary["checks"]]
    log = Path(summary["console_log"]).read_text(errors="replace")
    assert log.count("tftpboot") >= 2 and log.count("crc32 ") >= 2 and "booti " in log
    # Staged over SFTP on the lab host, byte for byte.
    staged = tftp_root / "uboot-lab"
    assert (staged / "Image").read_bytes() == debian_artifact.image.read_bytes()
    assert (staged / "initrd").read_bytes() == Path(Board(board.spec).flashed().initrd).read_bytes()
    # Each boot (the flash's, the smoke session's): a power cycle by the PDU, and off at its end.
    assert pdu.requests == ["/off", "/on", "/off"] * 2 and pdu.board is None


def test_pdu_credentials_come_from_the_environment(lab_board, debian_artifact, monkeypatch):
    board, pdu, _ = lab_board
    monkeypatch.setenv("LAB_PDU_PASSWORD", "wrong")
    with pytest.raises(PowerSwitchError, match="refused: HTTP 401"):
        board.flash(debian_artifact, progress=lambda _: None)
    assert pdu.board is None and pdu.requests == []


def test_a_silent_board_is_reported_within_its_timeout_and_switched_off(lab_board, debian_artifact):
    board, pdu, _ = lab_board
    pdu.board_argv = ["sleep", "60"]                  # powered, but nothing on the serial line
    board.spec.boot.uboot.autoboot_timeout_s = 3
    started = time.monotonic()
    with pytest.raises(BoardError, match="uboot-lab: no U-Boot autoboot countdown or prompt within 3 s"):
        board.flash(debian_artifact, progress=lambda _: None)
    assert time.monotonic() - started < 30
    assert pdu.requests[-1] == "/off" and pdu.board is None
