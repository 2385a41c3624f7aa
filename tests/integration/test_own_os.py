"""Boards that run their own OS: sisctl's stand-in (busybox, a serial login, dropbear) on QEMU with
the Debian kernel, reached over SSH (the agent served on an SSH channel) and by logging in on the
serial console. Smoke, a benchmark and a crash campaign over SSH; an unknown host key refused; exact
output through the login shell while the kernel prints on the same line; a wrong password is one
line, exit 75, within the login timeout."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sisctl.board.board import Board
from sisctl.board.errors import BoardError
from sisctl.board.spec import find_board
from sisctl.campaign.core.runner import start
from sisctl.jobs.smoke import run_smoke

PROJECT = Path(__file__).resolve().parents[2]
INVOKE = Path(sys.executable).parent / "invoke"
SSH_BOARD, SHELL_BOARD = "qemu-virt-ownos-ssh", "qemu-virt-ownos-shell"
PASSWORD = "stand-in-секрет 'quoted' $x"    # the login must survive spaces, quotes and non-ASCII


@pytest.fixture(scope="module")
def password():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SISCTL_STANDIN_PASSWORD", PASSWORD)
        yield PASSWORD


@pytest.fixture(scope="module")
def ssh_smoke(lab_dirs, debian_artifact) -> dict:
    """Smoke on the SSH stand-in: flash (one cold boot to SSH and the agent), then the checks."""
    return run_smoke(SSH_BOARD, progress=lambda _: None)


@pytest.fixture(scope="module")
def shell_smoke(lab_dirs, debian_artifact, password) -> dict:
    return run_smoke(SHELL_BOARD, progress=lambda _: None)


def test_smoke_over_ssh_runs_the_linux_checks_through_the_served_agent(ssh_smoke):
    assert ssh_smoke["status"] == "passed", ssh_smoke["checks"]
    names = [c["name"] for c in ssh_smoke["checks"]]
    assert {"kernel release", "binary-safe output", "exit status"} <= set(names), names
    assert ssh_smoke["passed"] >= 6


def test_commands_over_ssh_keep_both_streams_and_the_status(ssh_smoke):
    board = Board(find_board(SSH_BOARD))
    with board.session(label="own-os-run") as session:
        result = session.run("echo out; echo err >&2; exit 7")
        assert (result.stdout, result.stderr, result.code) == (b"out\n", b"err\n", 7)
        assert session.run("uname -m").text == "aarch64\n"
        started = time.monotonic()
        slow = session.run("sleep 60", timeout_s=2)
        assert slow.reason == "timeout" and time.monotonic() - started < 10
        assert session.run("echo still here").text == "still here\n"
    assert (session.run_dir / "agent-ssh.log").exists()


def test_a_short_crash_campaign_over_ssh_checks_every_state(ssh_smoke):
    summary = start("ext4-crash", SSH_BOARD, {"scenario": "write_during_journal_commit", "mode": "powerloss",
                                              "runs": 1}, 3, progress=lambda _: None)
    assert summary["status"] == "passed", summary.get("reason")
    assert summary["failed"] == 0 and summary["states"] >= 10, summary["headline"]


@pytest.mark.slow
def test_the_quick_bench_suite_over_ssh_compares_a_kernel_with_itself(ssh_smoke):
    summary = start("bench", SSH_BOARD, {"baseline": "debian-arm64", "candidate": "debian-arm64",
                                         "suite": "quick", "budget": "10s"}, 5, progress=lambda _: None)   # one block
    assert summary["status"] == "passed", summary.get("reason")
    assert summary["blocks"] == 1, summary["headline"]
    assert {m["verdict"] for m in summary["metrics"] if m["gate"]} <= {"unchanged", "inconclusive"}, summary["headline"]


def test_a_board_whose_host_key_is_not_the_known_one_is_refused(ssh_smoke, debian_artifact, tmp_path):
    """The same stand-in image booted by a board whose known host key is another: refused, not added."""
    flashed = Board(find_board(SSH_BOARD)).flashed()
    impostor = Board(find_board(SSH_BOARD), state_root=tmp_path / "state")   # its own, different host key
    started = time.monotonic()
    with pytest.raises(BoardError, match="host key"):
        with impostor.session(fast=False, artifact=debian_artifact, initrd=Path(flashed.initrd), label="impostor"):
            pass
    assert time.monotonic() - started < 60    # at once after boot, not after the 120 s boot timeout


def test_login_on_the_console_passes_smoke(shell_smoke):
    assert shell_smoke["status"] == "passed", shell_smoke["checks"]
    assert shell_smoke["passed"] >= 6


def test_the_login_shell_gives_exact_output_while_the_kernel_prints(shell_smoke):
    board = Board(find_board(SHELL_BOARD))
    with board.session(fast=False, append="standin.noise=5", label="own-os-noise") as session:
        lines = session.run("seq 1 3000", timeout_s=120)
        assert lines.ok and lines.stdout == "".join(f"{n}\n" for n in range(1, 3001)).encode()
        mixed = session.run("printf 'a\\000b\\377'; echo err >&2; exit 3")
        assert (mixed.stdout, mixed.stderr, mixed.code) == (b"a\x00b\xff", b"err\n", 3)
    log = (session.run_dir / "console.log").read_text(errors="replace")
    assert log.count("standin: noise") > 50    # the kernel really printed throughout


def test_a_wrong_password_is_one_line_and_exit_75_within_the_login_timeout(shell_smoke):
    env = {**os.environ, "SISCTL_STANDIN_PASSWORD": "not the password"}
    started = time.monotonic()
    done = subprocess.run([str(INVOKE), "run", "--board", SHELL_BOARD, "--", "true"], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 75, done.stderr
    assert "login as 'lab' refused" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert time.monotonic() - started < 90
