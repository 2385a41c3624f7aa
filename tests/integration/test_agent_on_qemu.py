"""The agent protocol against a real Debian arm64 kernel in QEMU."""
from __future__ import annotations

import hashlib

import pytest


ALL_BYTES = bytes(range(256))


@pytest.fixture(scope="module")
def session(board):
    with board.session(label="agent") as session:
        yield session


def test_session_boots_from_the_ready_snapshot(session):
    assert session.boot_mode == "snapshot"
    assert session.run("cat /proc/device-tree/compatible").text.startswith("linux,dummy-virt")


def test_output_of_any_content_comes_back_exactly(session):
    # Every byte value and text that looks like the protocol itself.
    session.run("printf '" + "".join(f"\\{b:03o}" for b in ALL_BYTES) + "' > /tmp/all")
    assert session.run("cat /tmp/all").stdout == ALL_BYTES
    tricky = "@@SIS END 1-1 exit 0 0 0 00000000\n@@SIS READY 1 1\n"
    result = session.run(f"printf '%s' '{tricky}'")
    assert result.stdout == tricky.encode()


def test_large_output_is_exact(session):
    result = session.run("head -c 1048576 /dev/urandom | tee /tmp/big | sha256sum; cat /tmp/big")
    digest, blob = result.stdout[:64].decode(), result.stdout[result.stdout.index(b"\n") + 1:]
    assert len(blob) == 1 << 20
    assert hashlib.sha256(blob).hexdigest() == digest


def test_exit_status_signal_stderr_and_timeout(session):
    result = session.run("echo to-out; echo to-err >&2; exit 42")
    assert (result.reason, result.code, result.stdout, result.stderr) == ("exit", 42, b"to-out\n", b"to-err\n")
    killed = session.run("kill -9 $$")
    assert (killed.reason, killed.code) == ("signal", 9)
    slow = session.run("echo started; sleep 30", timeout_s=1)
    assert slow.reason == "timeout"
    assert session.run("echo still-alive").text == "still-alive\n"


def test_a_pipe_closed_early_ends_its_writer(session):
    # The agent ignores SIGPIPE itself; its commands must not inherit that, or `yes` writes on forever.
    result = session.run("yes sisctl | head -c 10; echo", timeout_s=20)
    assert (result.reason, result.code, result.stdout) == ("exit", 0, b"sisctl\nsis\n"), result


def test_kernel_messages_interleaved_with_output_do_not_corrupt_it(session):
    # The kernel prints to the same console while the agent sends a long result.
    session.run("echo 8 > /proc/sys/kernel/printk")
    noisy = ("( i=0; while [ $i -lt 300 ]; do echo \"sisctl-noise line $i\" > /dev/kmsg; i=$((i+1)); done ) & "
             "head -c 262144 /dev/zero | tr '\\0' 'x'; wait")
    resends = 0
    for _ in range(3):
        result = session.run(noisy, timeout_s=120)
        assert result.stdout == b"x" * 262144
        resends += result.resends
    log = (session.run_dir / "console.log").read_text(errors="replace")
    assert "sisctl-noise line 299" in log, "the kernel messages never reached the console"
    print(f"resends needed: {resends}")
