"""The invoke tasks as a user runs them: quoting, exit codes, clear errors, the interactive shell path."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sisctl import errors
from sisctl.board.lock import BoardLock

PROJECT = Path(__file__).resolve().parents[2]
INVOKE = Path(sys.executable).parent / "invoke"


def invoke(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(INVOKE), *args], cwd=PROJECT, capture_output=True, text=True, timeout=timeout)


def test_run_passes_arguments_through_the_guest_shell_exactly(board):
    done = invoke("run", "--board", board.name, "--", "printf", "%s|", "a b", "c'd", "$HOME", "; echo x")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "a b|c'd|$HOME|; echo x|"


def test_run_exits_with_the_command_status(board):
    done = invoke("run", "--board", board.name, "--", "sh", "-c", "echo oops >&2; exit 3")
    assert done.returncode == 3
    assert done.stderr.startswith("oops")


def test_unknown_board_is_a_clear_error():
    done = invoke("flash", "--board", "no-such-board")
    assert done.returncode == 2
    assert "no such board" in done.stderr and "qemu-virt-0" in done.stderr
    assert "Traceback" not in done.stderr


def test_wrong_board_yaml_names_file_and_key(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: broken\nboot:\n  cmdline: 5\n")
    done = invoke("flash", "--board", str(bad))
    assert done.returncode == 2
    assert f"{bad}: key 'boot.cmdline': expected a string" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_file_that_is_not_a_kernel_is_refused_before_booting(tmp_path):
    recipe = tmp_path / "garbage.yaml"
    recipe.write_text(f"""name: garbage
kind: command
command:
  workdir: {tmp_path}
  argv: [dd, if=/dev/urandom, of=Image, bs=1024, count=64]
  image: Image
""")
    done = invoke("build", "--recipe", str(recipe))
    assert done.returncode == 2
    assert "not an arm64 kernel Image" in done.stderr


def test_console_shell_round_trip(board):
    """The path `invoke console` uses: the agent hands the console to a shell and comes back."""
    with board.session(label="shell") as session:
        session.agent.shell()
        session.console.write(b"echo shell-says-$((40+2))\n")
        assert session.console.expect(r"^shell-says-42", 30)
        session.console.write(b"exit\n")
        session.agent.wait_ready(30)
        assert session.run("echo back").text == "back\n"


def one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr and lines and lines[-1].startswith("error: "), done.stderr
    return lines[-1]


@pytest.mark.parametrize("args, words", [
    (["--runs", "0"], "--runs '0'"), (["--runs", "-3"], "--runs '-3'"), (["--runs", "abc"], "--runs 'abc'"),
    (["--scenario", "generated-x"], "--scenario 'generated-x': unknown scenario"),
])
def test_campaign_bad_options_stop_before_anything_starts(tmp_path, args, words):
    done = subprocess.run([str(INVOKE), "campaign", *args], cwd=PROJECT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "SISCTL_REPORTS": str(tmp_path / "reports")})
    assert done.returncode == errors.USAGE and words in one_error_line(done)
    assert not (tmp_path / "reports").exists(), "no report folder for a campaign that never started"


def test_campaign_on_a_busy_board_is_an_honest_error(board):
    """Someone else holds the board: exit 75, and the report says error with the reason, never a pass."""
    with BoardLock(board.state / "lock", board.name):
        done = invoke("campaign", "--board", board.name, "--scenario", "generated-1", "--runs", "1", "--json")
    assert done.returncode == errors.INFRASTRUCTURE, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "error" and "in use" in summary["reason"]
    junit = (Path(summary["report"]) / "junit.xml").read_text()
    assert 'tests="0" failures="0"' not in junit or "<error" in junit


@pytest.mark.parametrize("args, line", [
    (["campaign", "--seed", "abc"], "error: --seed takes a whole number, got 'abc'"),
    (["speed.boot", "--runs", "x"], "error: --runs takes a whole number, got 'x'"),
    (["run", "--timeout", "nan", "--", "true"], "error: --timeout: expected a duration such as 90s, 30m or 2h, got 'nan'"),
    (["run", "--timeout", "0", "--", "true"], "error: --timeout: expected a duration of more than 0 s, got '0'"),
])
def test_numeric_options_that_are_not_numbers_are_usage_errors(args, line):
    done = invoke(*args, timeout=60)
    assert done.returncode == errors.USAGE and done.stderr.strip() == line, done.stderr
