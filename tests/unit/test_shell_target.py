"""The shell target against a real login and a real POSIX shell (the host's sh) on a serial line
made of two ptys, with "kernel" lines written into the board's end while commands run."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from sisctl.board.console import Console, open_port
from sisctl.board.errors import AgentError, BootTimeout
from sisctl.board.target import Secret
from sisctl.board.target.shell import LoginFailed, ShellLink, ShellTarget
from tests.integration.standins import SerialLine

LOGIN = r'''
import os, sys, termios, time
tty = sys.stdin.fileno()
mode = sys.argv[1]
def say(text):
    os.write(1, text.encode())
if mode == "banner":    # the kernel's banner, its '#' arriving a second before the rest of its line
    say("[    0.000000] Linux version 6.1.0-57-cloud-arm64 (gcc-12) #")
    time.sleep(1)
    say("1 SMP Debian\r\n")
say("\r\nDebian GNU/Linux standin ttyAMA0\r\n\r\n")
if mode == "silent":
    os.read(tty, 1); os.execvp("sleep", ["sleep", "60"])
while True:
    say("standin login: ")
    user = sys.stdin.readline().strip()
    if not user:
        continue
    attrs = termios.tcgetattr(tty); quiet = list(attrs); quiet[3] &= ~termios.ECHO
    say("Password: ")
    termios.tcsetattr(tty, termios.TCSANOW, quiet)
    password = sys.stdin.readline().strip()
    termios.tcsetattr(tty, termios.TCSANOW, attrs)
    say("\r\n")
    if user == "lab" and password == "s3cret":
        break
    say("\r\nLogin incorrect\r\n")
os.environ["PS1"] = "lab@standin:~$ "
os.execvp(sys.argv[2], [sys.argv[2], "-i"])
'''


@pytest.fixture
def serial_board(tmp_path):
    """Start a 'board' on one end of a serial line; yields (console, start(mode, shell), noise(path))."""
    line = SerialLine()
    children: list[subprocess.Popen] = []
    consoles: list[Console] = []

    def start(mode="login", shell="sh"):
        board_end = line.paths[1]
        script = tmp_path / "login.py"
        script.write_text(LOGIN)
        child = subprocess.Popen(
            ["setsid", "sh", "-c", 'exec <"$1" >"$1" 2>&1; stty sane; exec "$2" "$3" "$4" "$5"', "board",
             board_end, sys.executable, str(script), mode, shell], env={**os.environ, "HOME": str(tmp_path)},
            cwd=tmp_path)
        children.append(child)
        console = Console(open_port(line.paths[0], 115200, 5, "standin"), tmp_path / "console.log", "standin")
        consoles.append(console)
        return console

    yield start, line.paths[1]
    for console in consoles:
        console.close()
    for child in children:
        child.kill()
        child.wait(5)
    line.close()


def link(console, **settings) -> ShellLink:
    spec = ShellTarget(user="lab", password=Secret(env="STANDIN_PASSWORD"), login_timeout_s=5, **settings)
    session = SimpleNamespace(console=console, name="standin", board=SimpleNamespace(spec=SimpleNamespace(target=spec)))
    return ShellLink(session)


@pytest.fixture(autouse=True)
def password(monkeypatch):
    monkeypatch.setenv("STANDIN_PASSWORD", "s3cret")


class Noise:
    """A 'kernel' printing timestamped lines into the board's end of the line, mid-output."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_WRONLY | os.O_NOCTTY)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._print, daemon=True)

    def _print(self):
        n = 0
        while not self.stop.wait(0.003):
            n += 1
            os.write(self.fd, f"[ {n // 100:5d}.{n % 100:06d}] virtio_blk virtio{n}: noise\r\n".encode())

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(2)
        os.close(self.fd)


def test_login_and_exact_output_and_status_while_the_kernel_prints(serial_board):
    start, board_end = serial_board
    shell = link(start())
    shell.wait_ready(15)
    with Noise(board_end):
        result = shell.run("echo out; echo err >&2; exit 7")
        assert (result.stdout, result.stderr, result.reason, result.code) == (b"out\n", b"err\n", "exit", 7)
        blob = bytes(range(256)) * 64
        blob_file = Path(shell.run("mktemp").text.strip())
        blob_file.write_bytes(blob)          # the 'board' is this host: its files are ours to compare
        result = shell.run(f"cat {blob_file}; printf 'no newline'")
        assert result.stdout == blob + b"no newline" and result.ok
        long = "x" * 3000   # more than a line editor takes in one line
        assert shell.run(f"printf %s {long} | wc -c").text.strip() == "3000"
        assert shell.run("printf '%s\\n' \"a\tb\" '$HOME' \"it's\"").text == "a\tb\n$HOME\nit's\n"


def test_a_command_past_its_timeout_is_interrupted_and_the_shell_goes_on(serial_board):
    start, _ = serial_board
    shell = link(start())
    shell.wait_ready(15)
    started = time.monotonic()
    result = shell.run("sleep 30", timeout_s=1)
    assert result.reason == "timeout" and time.monotonic() - started < 10
    assert shell.run("echo still here").text == "still here\n"


def test_a_wrong_password_is_one_clear_error_within_the_login_timeout(serial_board, monkeypatch):
    start, _ = serial_board
    monkeypatch.setenv("STANDIN_PASSWORD", "wrong")
    shell = link(start())
    started = time.monotonic()
    with pytest.raises(LoginFailed, match="login as 'lab' refused: wrong user name or password") as caught:
        shell.wait_ready(15)
    assert time.monotonic() - started < 10 and caught.value.exit_code == 75


def test_a_kernel_line_still_arriving_is_not_taken_for_a_prompt(serial_board):
    start, _ = serial_board
    shell = link(start(mode="banner"))
    shell.wait_ready(15)     # a '#' at the end of what came so far is no root prompt
    assert shell.run("echo logged in").text == "logged in\n"


def test_a_prompt_never_seen_names_the_prompt(serial_board):
    start, _ = serial_board
    shell = link(start(mode="silent"))
    with pytest.raises(BootTimeout, match=r"no login prompt \(/login: \*\$/\) or shell prompt"):
        shell.wait_ready(4)


def test_a_shell_that_is_not_posix_is_named(serial_board, tmp_path):
    start, _ = serial_board
    fake = tmp_path / "notsh"
    fake.write_text("#!/bin/sh\nwhile printf '=> '; read -r line; do echo \"Unknown command '$line'\"; done\n")
    fake.chmod(0o755)
    shell = link(start(shell=str(fake)), prompt_regex="=> $")
    with pytest.raises(AgentError, match="did not answer a POSIX sh command"):
        shell.wait_ready(15)
