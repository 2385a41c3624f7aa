"""Nothing is silently cut: output past the agent's cap fails the command naming the cap; command
timeouts are checked before anything starts and the guest enforces the one the host waits for."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from sisctl import errors
from sisctl.board.agent import COMMAND_MAX, OUTPUT_CAP, OutputCut

INVOKE = str(Path(sys.executable).parent / "invoke")


def cli(*args, timeout=180):
    return subprocess.run([INVOKE, *args], capture_output=True, timeout=timeout)


@pytest.fixture
def session(board):   # one per test: the CLI tests below need the board free
    with board.session(label="output-cap") as session:
        yield session


@pytest.mark.parametrize("stream", ["", ">&2"])
def test_output_past_the_cap_fails_naming_it(session, stream):
    printed = 50_000_000
    with pytest.raises(OutputCut) as caught:
        session.run(f"head -c {printed} /dev/zero {stream}", timeout_s=120)
    assert f"{printed} bytes" in str(caught.value) and f"{OUTPUT_CAP >> 20} MiB" in str(caught.value)
    assert session.run("echo next").text == "next\n", "the agent must stay usable after a cut"


def test_the_longest_command_the_agent_reads_runs_exactly(session):
    word = "x" * (COMMAND_MAX - len("printf %s  | wc -c"))
    assert session.run(f"printf %s {word} | wc -c", timeout_s=120).text.strip() == str(len(word))


def test_a_longer_command_is_refused_at_once_naming_its_size(board):
    started = time.monotonic()
    done = cli("run", "--board", board.name, "--timeout", "60", "--", "echo", "y" * 120_000)
    line = done.stderr.decode().strip().splitlines()[-1]
    assert done.returncode == errors.USAGE and time.monotonic() - started < 30
    assert f"is {120_000 + 5} bytes, more than the agent reads in one request ({COMMAND_MAX})" in line
    assert len(line) < 400, "the error line quotes the command cut short"


def test_cli_run_fails_loudly_on_a_cut(board):
    done = cli("run", "--board", board.name, "--", "head", "-c", "50000000", "/dev/zero")
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == errors.USAGE and not done.stdout
    # (a first use may print flashing progress before it)
    assert lines[-1].startswith("error: ") and "16 MiB" in lines[-1] and "Traceback" not in done.stderr.decode()


@pytest.mark.parametrize("value, expected", [("0", "a duration of more than 0 s"), ("-1", "a duration such as"),
                                             ("nan", "a duration such as"), ("inf", "a duration such as"),
                                             ("abc", "a duration such as")])
def test_cli_rejects_meaningless_timeouts(value, expected):
    done = cli("run", f"--timeout={value}", "--", "true", timeout=30)
    assert done.returncode == errors.USAGE
    line = done.stderr.decode().strip()
    assert line.startswith(f"error: --timeout: expected {expected}") and line.endswith(f"got '{value}'"), line


def test_guest_enforces_the_timeout_the_host_waits_for(board):
    started = time.monotonic()
    done = cli("run", "--board", board.name, "--timeout", "2", "--", "sleep", "60")
    assert done.returncode == 124 and b"timed out after 2 s" in done.stderr
    assert time.monotonic() - started < 30, "the guest must stop the command, not the host's grace"
