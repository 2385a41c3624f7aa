"""Booting, failing and cleaning up: panics, boot hangs, locks, two boards, Ctrl-C and SIGKILL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sisctl.board.board import Board
from sisctl.board.errors import BoardBusy, BootTimeout, KernelCrash
from sisctl.board.spec import load_board
from tests.conftest import qemu_processes_mentioning

PROJECT = Path(__file__).resolve().parents[2]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_panic_is_detected_as_a_kernel_crash(board):
    with board.session(label="panic") as session:
        with pytest.raises(KernelCrash) as caught:
            session.run("echo c > /proc/sysrq-trigger", timeout_s=30)
        pid = session.machine.process.pid
    crash = caught.value
    assert "sysrq" in crash.report.lower()
    assert "Kernel panic" in crash.report
    assert crash.title.startswith(("Internal error", "Kernel panic", "Unable to handle", "sysrq"))
    assert _gone(pid)


def test_kernel_that_never_gets_ready_times_out_and_leaves_no_qemu(board):
    # rdinit=/bin/sh: the kernel boots, but the agent never starts.
    with pytest.raises(BootTimeout) as caught:
        with board.session(fast=False, append="rdinit=/bin/sh", ready_timeout_s=20, label="hang"):
            pytest.fail("the session must not start")
    assert "no ready marker" in str(caught.value)
    assert "Run /bin/sh as init process" in caught.value.log_tail
    assert not qemu_processes_mentioning(str(board.state))


def test_snapshot_sessions_start_from_the_same_clean_state(board):
    with board.session(label="first") as first:
        assert first.boot_mode == "snapshot"
        first.run("echo dirty > /tmp/left-behind")
    with board.session(label="second") as second:
        assert second.run("cat /tmp/left-behind 2>&1; true").text.endswith("No such file or directory\n")


def test_a_board_in_use_says_by_whom(board):
    with board.session(label="holder"):
        with pytest.raises(BoardBusy) as caught:
            with Board(board.spec).session(label="intruder"):
                pass
    assert f"pid {os.getpid()}" in str(caught.value)


def test_two_boards_run_at_once(board, debian_artifact, tmp_path):
    text = Path(board.spec.source).read_text().replace("name: qemu-virt-0", "name: qemu-virt-1")
    (tmp_path / "qemu-virt-1.yaml").write_text(text)
    other = Board(load_board(tmp_path / "qemu-virt-1.yaml"))
    other.flash(debian_artifact)
    with board.session(label="a") as a, other.session(label="b") as b:
        assert a.machine.port != b.machine.port
        assert a.run("echo a").text == "a\n" and b.run("echo b").text == "b\n"


def _controller(board_name: str) -> subprocess.Popen:
    """A separate controller process running a long command on the board."""
    code = ("import sys; from sisctl.board.board import Board; from sisctl.board.spec import find_board\n"
            "with Board(find_board(sys.argv[1])).session(label='victim') as s:\n"
            "    print('booted', flush=True); s.run('sleep 600', timeout_s=700)\n")
    return subprocess.Popen([sys.executable, "-c", code, board_name], cwd=PROJECT,
                            stdout=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"])
def test_killed_controller_leaves_no_qemu(board, sig):
    controller = _controller(board.name)
    try:
        assert controller.stdout.readline().strip() == "booted"
        assert qemu_processes_mentioning(str(board.state)), "the controller's QEMU should be running"
        controller.send_signal(sig)
        controller.wait(30)
        deadline = time.monotonic() + 10
        while qemu_processes_mentioning(str(board.state)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not qemu_processes_mentioning(str(board.state))
    finally:
        controller.kill()
        controller.wait()


def test_a_stopped_emulator_fails_the_command_naming_it_and_leaves_no_qemu(board):
    """SIGSTOP of the board's QEMU mid-command: the host's own deadlines end it (exit 75, the
    silent emulator named), however long the guest would have taken."""
    run = subprocess.Popen([str(Path(sys.executable).parent / "invoke"), "run", "--board", board.name,
                            "--timeout", "20", "--", "sleep", "18"], cwd=PROJECT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    stopped = None
    try:
        deadline = time.monotonic() + 60
        while not (found := qemu_processes_mentioning(str(board.state))) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert found, "the board's QEMU never started"
        time.sleep(6)   # restored from its snapshot, answering, and running the command
        stopped = found[0]
        os.kill(stopped, signal.SIGSTOP)
        _, stderr = run.communicate(timeout=120)
    finally:
        if stopped and not _gone(stopped):
            os.kill(stopped, signal.SIGCONT)
        run.kill()
        run.wait()
    assert run.returncode == 75, stderr[-2000:]
    assert "the emulator is stopped or hung" in stderr or "within 20 s" in stderr, stderr[-2000:]
    deadline = time.monotonic() + 10
    while qemu_processes_mentioning(str(board.state)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not qemu_processes_mentioning(str(board.state))


def test_a_command_that_kills_the_agent_fails_at_once_and_long_commands_are_quoted_short(board):
    """The init restarts a killed agent at once: its ready line ends the wait for a result that
    will never come, long before the command's timeout."""
    done = subprocess.run([str(Path(sys.executable).parent / "invoke"), "run", "--board", board.name,
                           "--timeout", "300", "--", "sh", "-c", "kill -9 $PPID; sleep 1000 # " + "x" * 5000],
                          cwd=PROJECT, capture_output=True, text=True, timeout=120)   # far inside the 300 s
    assert done.returncode == 75, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert "the agent restarted while" in last and "killed it, or it crashed" in last
    assert len(last) < 400 and "characters)" in last   # the 5 KB command quoted short, its size said
