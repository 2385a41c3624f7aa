"""The prompt target against a real program playing a shell-only kernel on a serial line of two
ptys: its ready line, its `sis> ` prompt, commands without exit status, its log lines mid-output."""
from __future__ import annotations

import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from sisctl.board.console import Console, open_port
from sisctl.board.errors import BootTimeout
from sisctl.board.target.prompt import PromptLink, PromptTarget
from sisctl.errors import UsageError
from tests.integration.standins import SerialLine

KERNEL = r'''
import os, sys, time
say = lambda text: (os.write(1, text.encode()))
say("[    0.000000] Booting SIS kernel\r\n")
if sys.argv[1] == "mute":
    time.sleep(60)
say("SIS kernel shell ready\r\n")
if sys.argv[1] == "late":     # not reading yet: an Enter typed now is answered after the first prompt
    time.sleep(1.5)
line = b""
say("sis> ")
if sys.argv[1] == "late":
    time.sleep(0.5)           # slow to read its first line, which is that early Enter
while True:
    c = os.read(0, 1)
    if c == b"\x03":
        say("^C\r\nsis> "); line = b""; continue
    if c not in (b"\r", b"\n"):
        os.write(1, c); line += c; continue
    say("\r\n")
    cmd = line.decode(); line = b""
    if cmd == "memctl":
        say("[    1.000000] memctl: scanning\r\nMemTotal: 524288 kB\r\n")
    elif cmd == "hang":
        while os.read(0, 1) != b"\x03": pass
        say("^C\r\n")
    elif cmd.startswith("fsctl verify"):
        say("fsctl verify: FAIL /data/3\r\n")
    elif cmd:
        say(f"unknown command '{cmd}'\r\n")
    say("sis> ")
'''


@pytest.fixture
def kernel(tmp_path):
    line = SerialLine()
    started: list = []

    def start(mode="normal", **settings) -> PromptLink:
        script = tmp_path / "kernel.py"
        script.write_text(KERNEL)
        child = subprocess.Popen(["setsid", "sh", "-c", 'exec <"$1" >"$1" 2>&1; exec "$2" "$3" "$4"', "kernel",
                                  line.paths[1], sys.executable, str(script), mode])
        console = Console(open_port(line.paths[0], 115200, 5, "sis"), tmp_path / "console.log", "sis")
        started.append((child, console))
        spec = PromptTarget(ready_regex="SIS kernel shell ready", prompt="sis> ", prompt_timeout_s=3, **settings)
        return PromptLink(SimpleNamespace(console=console, name="sis",
                                          board=SimpleNamespace(spec=SimpleNamespace(target=spec))))

    yield start
    for child, console in started:
        console.close()
        child.kill()
        child.wait(5)
    line.close()


def test_commands_give_their_output_and_a_failure_from_the_output(kernel):
    link = kernel()
    link.wait_ready(10)
    memory = link.run("memctl")
    assert (memory.text, memory.ok) == ("MemTotal: 524288 kB\n", True)     # the kernel's log line taken out
    verify = link.run("fsctl verify")
    assert verify.code == 1 and "FAIL /data/3" in verify.text
    assert link.run("nosuch").code == 1


def test_the_host_interrupts_a_command_at_its_timeout(kernel):
    link = kernel()
    link.wait_ready(10)
    started = time.monotonic()
    assert link.run("hang", timeout_s=1).reason == "timeout"
    assert time.monotonic() - started < 5
    assert link.run("memctl").ok


def test_a_kernel_that_never_gets_ready_names_the_ready_line(kernel):
    link = kernel("mute")
    with pytest.raises(BootTimeout, match=r"no ready line \(/SIS kernel shell ready/\) within 2 s"):
        link.wait_ready(2)


def test_a_multi_line_command_is_refused(kernel):
    link = kernel()
    link.wait_ready(10)
    with pytest.raises(UsageError, match="one line at a time"):
        link.run("memctl\nmemctl")


def test_an_enter_answered_after_the_first_prompt_does_not_end_the_first_command(kernel):
    link = kernel("late")
    link.wait_ready(10)
    assert link.run("memctl").text == "MemTotal: 524288 kB\n"
